// `wavemix prepare`: decodes and resizes a JPEG/PNG data set once into packed shards of fixed-size
// records (Data/PackedFormat.swift), so training reads one record per sample instead of decoding a
// JPEG. Runs as one process or as every rank of an mpirun job: rank 0 creates (or checks, to resume)
// the output's plan, every rank packs its own range of each split into its own shard, and rank 0
// writes manifest.json after a barrier. A rerun on an unfinished output resumes it; on a finished or
// foreign one it refuses.
import ArgumentParser
import Comm
import Data
import Dispatch
import Foundation
import Training

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pack a JPEG/PNG data set into shards of fixed-size records for fast training reads.",
        discussion: """
            Each image is decoded once, its shorter side resized to --size and the centred --size x --size square kept
            (torchvision's Resize + CenterCrop with Pillow's antialiased bilinear filter). Train with --data packed:OUT:
            training crops are RandomResizedCrops of the stored squares, evaluation crops their centre (at --image-size
            224 from 256-pixel records, exactly Resize(256) + CenterCrop(224) of the originals). Under mpirun every
            rank packs its share. Unusable images are skipped with a warning and listed in OUT/manifest.json.
            Interrupted runs resume when run again with the same options.
            """)

    enum Splits: String, ExpressibleByArgument, CaseIterable {
        case train, val, both
    }

    @Option(help: ArgumentHelp("Data set to pack: \(DataSpec.Kind.allCases.filter(\.isImageFiles).map(\.usage).joined(separator: ", ")).",
                               valueName: "spec"))
    var data: String
    @Option(help: ArgumentHelp("Output directory (new or empty, or an unfinished earlier run to resume).", valueName: "dir"))
    var out: String
    @Option(help: "Side of the stored square records in pixels.") var size = 256
    @Option(help: "Splits to pack: train, val or both.") var split: Splits = .both
    @Flag(help: "Stop at the first unusable image instead of skipping it.") var strict = false
    @Flag(help: "Decode every JPEG at full size (no DCT-domain reduction of large images).") var noDctDownscale = false
    @OptionGroup(title: "Runtime") var runtime: RuntimeOptions

    func validate() throws {
        guard size >= 8 else { throw ValidationError("--size must be at least 8") }
        let kind: DataSpec.Kind
        do { kind = try DataSpec(parsing: data).kind } catch { throw ValidationError(error.description) }
        guard kind.isImageFiles else {
            let packable = DataSpec.Kind.allCases.filter(\.isImageFiles).map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--data \(data): prepare packs image files (\(packable)); \(kind.rawValue) is read directly")
        }
    }

    func run() throws {
        try withMPI(prepare)
    }

    private func prepare(_ comm: Communicator) throws {
        let threads = runtime.threads ?? ComputeThreads.defaultCount(ranksOnHost: comm.localSize)
        let spec = try DataSpec(parsing: data)
        let loaded = try spec.load(.prepare(size: size, dctDownscale: !noDctDownscale))
        let all = ["train": loaded.train as! ImageFileSource, "val": loaded.test as! ImageFileSource]
        let names = split == .both ? ["train", "val"] : [split.rawValue]
        let plan = PreparePlan(source: spec.description, size: size, dctDownscale: !noDctDownscale, worldSize: comm.size,
                               splits: names.map { PreparePlan.Split(name: $0, count: all[$0]!.count, fingerprint: all[$0]!.files.fingerprint) })
        if comm.rank == 0 {
            let resuming = try plan.begin(out: out)
            Console.out("\(resuming ? "resuming" : "preparing") \(out): \(names.map { "\(all[$0]!.count) \($0)" }.joined(separator: " + ")) "
                + "images of \(spec) as \(size)x\(size) records, \(comm.size) rank(s) x \(threads) thread(s)")
        }
        try comm.barrier()
        for name in names {
            let progress = Progress(split: name, rank: comm.rank, worldSize: comm.size)
            let result = try ShardWriter.write(out: out, plan: plan, split: name, source: all[name]!, rank: comm.rank, threads: threads,
                                               strict: strict, progress: progress.update, warn: { Console.err("rank \(comm.rank): \($0)") })
            progress.finish(records: result.records, resumed: result.resumed)
        }
        try comm.barrier()
        guard comm.rank == 0 else { return }
        let manifest = try PackedManifest.finish(out: out, plan: plan, info: PackedManifest.SourceInfo(
            spec: spec.description, classIDs: loaded.classIDs ?? [], classNames: loaded.classNames ?? [],
            normalization: loaded.normalization, files: Dictionary(uniqueKeysWithValues: names.map { ($0, all[$0]!.files) })))
        for s in manifest.splits {
            Console.out("\(s.name): \(s.records) records in \(s.shards.count) shard(s), \(s.skipped.count) unusable image(s) skipped")
        }
        Console.out("wrote \(out)/manifest.json; train with --data packed:\(out)")
    }
}

/// Rank 0's progress line for one split: rewritten in place on a terminal, a line every 30 s otherwise.
private final class Progress {
    let split: String
    let rank: Int
    let worldSize: Int
    let start = DispatchTime.now().uptimeNanoseconds
    var lastPrint: UInt64 = 0
    var startDone: Int?
    let terminal = isatty(2) != 0

    init(split: String, rank: Int, worldSize: Int) {
        self.split = split
        self.rank = rank
        self.worldSize = worldSize
    }

    func update(done: Int, total: Int) {
        guard rank == 0 else { return }
        guard let first = startDone else {  // the first call says where this run starts
            startDone = done
            lastPrint = DispatchTime.now().uptimeNanoseconds
            return
        }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastPrint >= (terminal ? 500_000_000 : 30_000_000_000) || done == total, done > first else { return }
        lastPrint = now
        let rate = Double(done - first) / (Double(now - start) / 1e9)
        let line = String(format: "%@: %d/%d images of rank 0's shard (%d rank(s) in all), %.0f img/s, ETA %@", split, done, total,
                          worldSize, rate, formatElapsed(Double(total - done) / rate))
        FileHandle.standardError.write(Data((terminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish(records: Int, resumed: Int) {
        guard rank == 0 else { return }
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        Console.out("\(split): rank 0 packed \(records - resumed) image(s) in \(formatElapsed(seconds))"
            + (resumed > 0 ? " (\(resumed) already packed)" : ""))
    }
}
