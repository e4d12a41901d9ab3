// Exact sharded evaluation: each rank takes a contiguous slice of the evaluation set (no padding,
// no duplicates), runs eval-mode forwards, and the loss sum, top-1/top-5 counts and per-class
// counts are summed over ranks, so every sample is counted exactly once whatever the world size.
import Checkpoint
import Comm
import Data
import Foundation
import Kernels
import WaveMix

public struct EvaluationResult: Sendable, Equatable {
    public var samples: Int
    public var loss: Double
    public var top1: Double
    public var top5: Double
    /// Per class: samples and top-1 hits.
    public var classSamples: [Int]
    public var classCorrect: [Int]

    /// "top-1 85.65%, top-5 99.77%, loss 0.3866"; top-5 only with more than 5 classes, where it
    /// is not 100% by definition.
    public var accuracySummary: String {
        String(format: "top-1 %.2f%%", 100 * top1) + (classSamples.count > 5 ? String(format: ", top-5 %.2f%%", 100 * top5) : "")
            + String(format: ", loss %.4f", loss)
    }

    /// class,name,samples,correct,accuracy — one line per class.
    public func perClassCSV(classNames: [String]?) -> String {
        var out = "class,name,samples,correct,accuracy\n"
        for c in classSamples.indices {
            let name = classNames.flatMap { c < $0.count ? $0[c] : nil } ?? "\(c)"
            let accuracy = classSamples[c] > 0 ? Double(classCorrect[c]) / Double(classSamples[c]) : 0
            out += "\(c),\"\(name.replacingOccurrences(of: "\"", with: "\"\""))\",\(classSamples[c]),\(classCorrect[c]),"
                + String(format: "%.6f", accuracy) + "\n"
        }
        return out
    }
}

public func evaluate(model: WaveMixModel, loader: BatchLoader, batchSize: Int, comm: Communicator,
                     input: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws -> EvaluationResult {
    let shard = EvalShard(count: loader.source.count, worldSize: comm.size, rank: comm.rank, batchSize: batchSize)
    let classes = model.config.numClasses
    // [loss sum, top-1, top-5, samples, per-class samples..., per-class hits...], summed over ranks.
    var totals = [Double](repeating: 0, count: 4 + 2 * classes)
    for b in 0..<shard.batchCount {
        let indices = Array(shard.batch(b))
        try loader.load(indices: indices, epoch: 0, pixels: input, labels: labels)
        let logits = model.forward(input: input, batch: indices.count, training: false)
        let counts = model.evaluate(labels: labels, batch: indices.count)
        totals[0] += counts.lossSum
        totals[1] += Double(counts.top1)
        totals[2] += Double(counts.top5)
        totals[3] += Double(counts.samples)
        for i in 0..<indices.count {
            let label = Int(labels[i]), row = logits + i * classes
            totals[4 + label] += 1
            if classesAtOrAbove(label: label, row: row, classes: classes) == 0 { totals[4 + classes + label] += 1 }
        }
    }
    if comm.size > 1 {
        try totals.withUnsafeMutableBufferPointer { try comm.allreduceSum($0) }
    }
    let n = totals[3]
    return EvaluationResult(samples: Int(n), loss: totals[0] / n, top1: totals[1] / n, top5: totals[2] / n,
                            classSamples: totals[4..<(4 + classes)].map { Int($0) },
                            classCorrect: totals[(4 + classes)...].map { Int($0) })
}

/// `wavemix eval`: the test split of a data set through a trained model, sharded over ranks.
public enum CheckpointEvaluation {
    /// A checkpoint or safetensors file as it is. A run directory gives its selected checkpoint
    /// (`best`, in runs that select on a validation split), else the one `latest` names, else its
    /// newest valid one; a directory without checkpoints but with model.safetensors and config.json
    /// (a run's results, as committed) gives that model.safetensors.
    public static func resolve(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return path }
        let layout = RunLayout(path), directory = layout.checkpoints
        for name in [directory.bestPointer(), directory.latestPointer()].compactMap({ $0 })
        where FileManager.default.fileExists(atPath: directory.checkpointsDirectory + "/" + name) {
            return directory.checkpointsDirectory + "/" + name
        }
        do {
            if let newest = try directory.newestValid() { return newest.path }
        } catch {
            throw InputError("\(error)")
        }
        if FileManager.default.fileExists(atPath: layout.model) && FileManager.default.fileExists(atPath: layout.config) {
            return layout.model
        }
        throw InputError("\(path): a directory without checkpoints or model.safetensors and config.json "
                         + "(give a checkpoint file or a run directory)")
    }

    /// `loadOptions.imageSize` nil takes the size the model was trained on. A safetensors file is
    /// read with the model configuration and data set of the config.json beside it.
    public static func run(checkpoint path: String, dataSpec: String?, batchSize: Int, loadOptions: LoadOptions,
                           comm: Communicator) throws -> (result: EvaluationResult, data: DataSet, metadata: CheckpointMetadata) {
        let (model, metadata): (WaveMixModel?, CheckpointMetadata)
        if CheckpointFormat.hasMagic(path: path) {
            let loaded = try WeightFiles.model(fromCheckpoint: path)
            (model, metadata) = (loaded.0, loaded.1)
        } else {
            (model, metadata) = (nil, try runMetadata(besides: path))
        }
        let spec = dataSpec ?? metadata.options?.data ?? "fashion-mnist"
        var options = loadOptions
        // A set without a class list (idx:) is read with the model's class count, as it was trained.
        if options.numClasses == nil { options.numClasses = metadata.model.numClasses }
        if options.imageSize == nil, try DataSpec(parsing: spec).kind.resizes {
            options.imageSize = model == nil ? metadata.options?.imageSize
                : metadata.imageHeight == metadata.imageWidth ? metadata.imageHeight : nil
        }
        let data = try DataSpec(parsing: spec).load(options)
        let trained = model.map { _ in (metadata.imageHeight, metadata.imageWidth) } ?? (data.test.height, data.test.width)
        guard (data.test.height, data.test.width) == trained else {
            throw InputError("\(path) was trained on \(trained.0)x\(trained.1) images; \(spec) has "
                             + "\(data.test.height)x\(data.test.width)")
        }
        guard data.numClasses <= metadata.model.numClasses else {
            throw InputError("\(spec) has \(data.numClasses) classes; the model in \(path) has \(metadata.model.numClasses)")
        }
        if let problem = SampleTransform.channelMismatch(inputChannels: data.test.channels, outputChannels: metadata.model.inChans,
                                                         data: spec) {
            throw InputError("\(path): \(problem)")
        }
        let evaluated = try model ?? {
            let model = try WaveMixModel(config: metadata.model, imageHeight: trained.0, imageWidth: trained.1)
            do { try model.loadStateDict(try StateDictFiles.read(path)) } catch let error as StateDictError {
                throw InputError("\(path): \(error)")
            }
            return model
        }()
        let transform = SampleTransform(for: data.test, outputChannels: metadata.model.inChans, normalization: data.normalization)
        let loader = BatchLoader(source: data.test, transform: transform, threads: Parallel.threads)
        let input = UnsafeMutablePointer<Float>.allocate(capacity: batchSize * transform.outputCount)
        let labels = UnsafeMutablePointer<Int32>.allocate(capacity: batchSize)
        defer { input.deallocate(); labels.deallocate() }
        evaluated.reserve(batch: batchSize)
        let result = try evaluate(model: evaluated, loader: loader, batchSize: batchSize, comm: comm, input: input, labels: labels)
        return (result, data, metadata)
    }

    /// The model and run options of the run directory that holds the safetensors file `path`
    /// (its config.json), as weights-only metadata.
    static func runMetadata(besides path: String) throws -> CheckpointMetadata {
        let config = RunLayout((path as NSString).deletingLastPathComponent).config
        struct RunConfig: Decodable { let options: TrainingOptions }
        let options: TrainingOptions
        do {
            options = try JSONDecoder().decode(RunConfig.self, from: Data(contentsOf: URL(fileURLWithPath: config))).options
        } catch {
            throw InputError("\(path): a safetensors file is evaluated with the run's config.json beside it; \(config): "
                             + "\(fileErrorReason(error))")
        }
        return CheckpointMetadata(kind: CheckpointMetadata.weightsKind, libraryVersion: libraryVersion, model: options.model,
                                  imageHeight: 0, imageWidth: 0, parameterCount: 0, options: options, step: 0, epoch: 0,
                                  positionInEpoch: 0, worldSize: 1, globalBatch: 0, optimizerSteps: 0, optimizerState: [],
                                  counterNames: [], progress: nil)
    }
}
