// `wavemix bench --data SPEC`: the data pipeline's speed, for comparison with the images/s training
// consumes (`wavemix bench` without --data). Times index building (DataSpec.load), then pulls
// batches through the prefetching BatchLoader with --threads decoding threads: decode + crop +
// flip + normalise for JPEG trees, read + crop + flip + normalise for packed shards. Can first write
// a synthetic ImageNet-like JPEG tree, or a tree of empty files to time index building alone.
import ArgumentParser
import Data
import Dispatch
import Foundation

struct DataBenchOptions: ParsableArguments {
    enum Split: String, ExpressibleByArgument, CaseIterable {
        case train, val
    }

    @Option(help: ArgumentHelp("Measure the data loader on this data set instead of the model.", valueName: "spec"))
    var data: String?
    @Option(help: "With --data: images to time, after one batch of warm-up.") var images = 1024
    @Option(help: "With --data: split to read, train (random resized crops and flips) or val (centre crops).") var split: Split = .train
    @Option(name: .customLong("generate-jpegs"),
            help: "With --data imagefolder:DIR: first write this many synthetic ImageNet-like training JPEGs into DIR (must not exist).")
    var generateJPEGs: Int?
    @Option(name: .customLong("generate-empty"),
            help: "With --data imagefolder:DIR: first write this many empty training .JPEG files into DIR (must not exist); implies --index-only.")
    var generateEmpty: Int?
    @Option(help: "Classes of a generated tree.") var classes = 1000
    @Flag(help: "With --data: time index building only.") var indexOnly = false
    @Flag(help: "Delete the generated tree when done.") var deleteGenerated = false

    func validate() throws {
        guard data != nil || (generateJPEGs == nil && generateEmpty == nil && !indexOnly) else {
            throw ValidationError("--generate-jpegs, --generate-empty and --index-only need --data")
        }
        guard let data else { return }
        let spec: DataSpec
        do { spec = try DataSpec(parsing: data) } catch { throw ValidationError(error.description) }
        guard images >= 1, classes >= 1 else { throw ValidationError("--images and --classes must be at least 1") }
        if generateJPEGs != nil || generateEmpty != nil {
            guard generateJPEGs == nil || generateEmpty == nil else { throw ValidationError("choose --generate-jpegs or --generate-empty") }
            guard spec.kind == .imageFolder else { throw ValidationError("--generate-jpegs and --generate-empty write imagefolder:DIR trees") }
            guard !FileManager.default.fileExists(atPath: spec.path) else {
                throw ValidationError("\(spec.path) exists; the tree is generated into a new directory")
            }
        }
    }

    func run(imageSize: Int?, batchSize: Int, threads: Int, json: Bool) throws {
        let spec = try DataSpec(parsing: data!)
        var report: [String: Any] = ["data": spec.description, "threads": threads]
        if let count = generateJPEGs ?? generateEmpty {
            let start = DispatchTime.now().uptimeNanoseconds
            if generateJPEGs != nil {
                let bytes = try SyntheticTree.writeJPEGs(into: spec.path, trainImages: count, classes: classes, threads: threads)
                report["generated_mean_jpeg_bytes"] = bytes / (count + classes)
            } else {
                try SyntheticTree.writeEmptyFiles(into: spec.path, trainFiles: count, classes: classes)
            }
            report["generated_files"] = count + classes
            report["generate_seconds"] = seconds(since: start)
        }
        defer { if deleteGenerated && (generateJPEGs ?? generateEmpty) != nil { try? FileManager.default.removeItem(atPath: spec.path) } }

        let inMemory = !spec.kind.resizes
        let start = DispatchTime.now().uptimeNanoseconds
        let dataSet = try spec.load(LoadOptions(imageSize: inMemory ? imageSize : imageSize ?? LoadOptions.defaultImageSize))
        report["index_seconds"] = seconds(since: start)
        report["train_images"] = dataSet.train.count
        report["val_images"] = dataSet.test.count
        if !(indexOnly || generateEmpty != nil) {
            let source = split == .train ? dataSet.train : dataSet.test
            let rate = try measure(source, normalization: dataSet.normalization, batchSize: batchSize, threads: threads)
            report["split"] = split.rawValue
            report["image_size"] = source.height
            report["batch_size"] = batchSize
            report["images_per_second"] = rate
            report["images_per_second_per_thread"] = rate / Double(threads)
            report["bad_images"] = dataSet.badImages?.badImageCount ?? 0
        }
        if json {
            print(String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        if let files = report["generated_files"] as? Int {
            print(String(format: "generated %d files in %.1f s", files, report["generate_seconds"] as! Double)
                + ((report["generated_mean_jpeg_bytes"] as? Int).map { ", \($0 / 1024) KiB per JPEG on average" } ?? ""))
        }
        print(String(format: "index    %d train + %d val images in %.2f s", dataSet.train.count, dataSet.test.count,
                     report["index_seconds"] as! Double))
        if let rate = report["images_per_second"] as? Double {
            print(String(format: "loader   %8.1f images/s with %d thread(s), %.1f per thread (%@ split, %dx%d, batch %d)", rate, threads,
                         rate / Double(threads), split.rawValue, report["image_size"] as! Int, report["image_size"] as! Int, batchSize))
        }
    }

    /// Images/s of the prefetching loader over `images` samples in shuffled order, after one batch of warm-up.
    private func measure(_ source: any ImageSource, normalization: Normalization, batchSize: Int, threads: Int) throws -> Double {
        let transform = SampleTransform(for: source, normalization: normalization,
                                        augmentation: Augmentation(horizontalFlip: split == .train), seed: 1)
        let loader = BatchLoader(source: source, transform: transform, threads: threads, queueDepth: 2)
        let order = try EpochSampler(count: source.count, batchSize: 1, seed: 1).permutation(epoch: 0)
        let batches = (0...(images / batchSize)).map { b in (0..<batchSize).map { order[(b * batchSize + $0) % order.count] } }
        let pixels = UnsafeMutablePointer<Float>.allocate(capacity: batchSize * loader.floatsPerSample)
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: batchSize)
        defer { pixels.deallocate(); labels.deallocate() }
        loader.prefetch(indices: batches[0], epoch: 0)
        if batches.count > 1 { loader.prefetch(indices: batches[1], epoch: 0) }
        try loader.take(pixels: pixels, labels: labels)  // warm-up
        let start = DispatchTime.now().uptimeNanoseconds
        for b in 1..<batches.count {
            if b + 1 < batches.count { loader.prefetch(indices: batches[b + 1], epoch: 0) }
            try loader.take(pixels: pixels, labels: labels)
        }
        return Double((batches.count - 1) * batchSize) / seconds(since: start)
    }

    private func seconds(since start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
}
