// The training loop: every rank holds a replica, reads its shard of each global batch, and the
// gradients are averaged over ranks (GradientReducer) before the optimizer step; rank 0 logs,
// evaluates with everyone (sharded) and writes the run directory and the checkpoints.
import Checkpoint
import Comm
import Data
import Dispatch
import Foundation
import Kernels
import WaveMix

public struct TrainingSummary: Sendable {
    /// The run's step count, and the steps of this invocation (fewer when it resumed).
    public var steps: Int
    public var stepsThisRun: Int
    public var epochs: Int
    public var finalEvaluation: EvaluationResult?
    /// This invocation's wall time, and the part of it spent evaluating.
    public var seconds: Double
    public var evaluationSeconds: Double
    /// Training images per second of this invocation, evaluation time left out.
    public var imagesPerSecond: Double
    /// Set when a signal or --stop-after-steps ended the run early (after a checkpoint).
    public var stoppedEarly: String?
}

public final class Trainer {
    public let options: TrainingOptions
    let comm: Communicator
    let data: DataSet
    let model: WaveMixModel
    let optimizer: Optimizer
    let schedule: LRSchedule
    let sampler: EpochSampler
    let trainLoader: BatchLoader
    let testLoader: BatchLoader
    let reducer: GradientReducer?
    let log: RunLog
    let checkpoints: CheckpointDirectory
    /// One micro-batch of input [B, H, W, C] and labels, reused every step.
    private let input: UnsafeMutableBufferPointer<Float>
    private let labels: UnsafeMutableBufferPointer<Int32>
    private var reduceError: Error?

    /// Optimizer steps taken so far, and where the next one starts.
    public private(set) var step = 0
    public private(set) var epoch = 0
    public private(set) var positionInEpoch = 0
    private var savedAtStep: Int?

    /// Test hook: with WAVEMIX_TEST_STEP_PAUSE=<seconds> in the environment, every step sleeps that
    /// long after its update, so a test that signals a run after step N knows the run is still
    /// going when the signal lands, however fast the machine (the sleep changes no numbers).
    public static let stepPauseEnvironmentVariable = "WAVEMIX_TEST_STEP_PAUSE"
    private let stepPause = ProcessInfo.processInfo.environment[Trainer.stepPauseEnvironmentVariable].flatMap(Double.init) ?? 0

    /// `resuming` makes metrics.jsonl grow instead of starting over.
    public init(options: TrainingOptions, comm: Communicator, data: DataSet, resuming: Bool = false) throws {
        self.options = options
        self.comm = comm
        self.data = data
        let source = data.train
        model = try WaveMixModel(config: options.model, imageHeight: source.height, imageWidth: source.width, seed: options.seed)
        optimizer = Optimizer(options.optimizer, parameterCount: model.parameterCount)
        sampler = try EpochSampler(count: source.count, batchSize: options.batchSize * options.gradientAccumulation,
                                   worldSize: comm.size, rank: comm.rank, seed: options.seed)
        let totalSteps = min(options.maxSteps ?? Int.max, options.epochs * sampler.batchesPerEpoch)
        schedule = LRSchedule(kind: options.schedule, baseLR: options.learningRate, totalSteps: totalSteps,
                              warmupSteps: options.warmupSteps, stepSize: options.stepSize, gamma: options.gamma,
                              minLR: options.minLearningRate)
        let threads = Parallel.threads
        let transform = SampleTransform(for: source, outputChannels: options.model.inChans, normalization: data.normalization,
                                        augmentation: options.augmentation, seed: options.seed)
        trainLoader = BatchLoader(source: source, transform: transform, threads: threads)
        let evalTransform = SampleTransform(for: data.test, outputChannels: options.model.inChans, normalization: data.normalization)
        testLoader = BatchLoader(source: data.test, transform: evalTransform, threads: threads)
        // A step's whole batch (all micro-batches) is loaded at once; evaluation reuses the buffers.
        let samples = max(options.batchSize * options.gradientAccumulation, options.evalBatchSize)
        input = .allocate(capacity: samples * transform.outputCount)
        labels = .allocate(capacity: samples)
        model.reserve(batch: max(options.batchSize, options.evalBatchSize))
        reducer = comm.size > 1 ? GradientReducer(comm: comm, model: model, bucketBytes: Int(options.bucketMiB * 1_048_576)) : nil
        log = try RunLog(runDirectory: options.runDirectory, isWriter: comm.rank == 0, append: resuming)
        checkpoints = CheckpointDirectory(runDirectory: options.runDirectory)
        try synchronizeInitialState()
        installCollectiveHooks()
    }

    deinit {
        input.deallocate()
        labels.deallocate()
    }

    public var stepsPerEpoch: Int { sampler.batchesPerEpoch }
    public var totalSteps: Int { schedule.totalSteps }
    public var parameterCount: Int { model.parameterCount }

    /// Rank 0's parameters and buffers become everyone's (they agree already when seeded alike;
    /// this makes it a guarantee, as DDP does).
    private func synchronizeInitialState() throws {
        guard comm.size > 1 else { return }
        try comm.broadcast(model.parameters, root: 0)
        try comm.broadcast(model.buffers, root: 0)
    }

    private func installCollectiveHooks() {
        guard comm.size > 1 else { return }
        // The model's hooks cannot throw: the first failure is kept and rethrown after backward.
        if let reducer {
            model.gradientsReady = { [unowned self] offset in
                guard reduceError == nil else { return }
                do { try reducer.gradientsReady(from: offset) } catch { reduceError = error }
            }
        }
        if options.syncBatchNorm {
            let comm = self.comm
            model.statisticsReducer = { [unowned self] sums in
                guard reduceError == nil else { return }
                do { try comm.allreduceSum(sums) } catch { reduceError = error }
            }
        }
    }

    // MARK: Resume

    /// Continues from a checkpoint: rank 0 passes the reader, every rank the metadata (already
    /// checked against the options). Rank 0's state is broadcast, so other ranks need no access
    /// to the file.
    public func restore(from reader: CheckpointReader?, metadata: CheckpointMetadata) throws {
        if let reader {
            try CheckpointSections.restoreModel(model, from: reader)
            try CheckpointSections.restoreOptimizer(optimizer, steps: metadata.optimizerSteps, from: reader)
        }
        if comm.size > 1 {
            try comm.broadcast(model.parameters, root: 0)
            try comm.broadcast(model.buffers, root: 0)
            try model.batchCounters.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
            for name in optimizer.settings.stateNames { try comm.broadcast(optimizer.state[name]!, root: 0) }
            optimizer.stepCount = metadata.optimizerSteps
        }
        step = metadata.step
        epoch = metadata.epoch
        positionInEpoch = metadata.positionInEpoch
        savedAtStep = step
        try log.forget(after: step)
    }

    /// Loads weights (a state dict) before training starts: fine-tuning from imported weights.
    public func initializeWeights(_ tensors: [StateTensor]) throws {
        try model.loadStateDict(tensors)
        try synchronizeInitialState()
    }

    // MARK: Loop

    public func run() throws -> TrainingSummary {
        let start = DispatchTime.now().uptimeNanoseconds
        let global = options.batchSize * options.gradientAccumulation * comm.size
        log.line("kernels: \(KernelSelection.current.description)")
        log.line("training \(model.parameterCount) parameters on \(data.train.count) images (\(data.spec), \(options.model.numClasses) classes), "
                 + "\(comm.size) rank(s) x \(Parallel.threads) thread(s), global batch \(global), "
                 + "\(stepsPerEpoch) steps/epoch, \(totalSteps) steps"
                 + (step > 0 ? "; resuming at step \(step) (epoch \(epoch + 1), batch \(positionInEpoch + 1))" : ""))
        let firstStep = step
        var windowLoss = 0.0, windowSteps = 0
        var windowStart = DispatchTime.now().uptimeNanoseconds
        var lastEvaluation: (step: Int, result: EvaluationResult)?
        var stopReason: String?
        epochs: while epoch < options.epochs && step < totalSteps {
            // The loader's threads assemble up to queueDepth batches ahead of the one computing.
            let batches = Array(sampler.batches(epoch: epoch, from: positionInEpoch).prefix(totalSteps - step))
            var queued = 0
            while queued < min(trainLoader.queueDepth, batches.count) {
                trainLoader.prefetch(indices: batches[queued], epoch: epoch)
                queued += 1
            }
            for (i, indices) in batches.enumerated() {
                try trainLoader.take(pixels: input.baseAddress!, labels: labels.baseAddress!)
                queued -= 1
                if i + trainLoader.queueDepth < batches.count {
                    trainLoader.prefetch(indices: batches[i + trainLoader.queueDepth], epoch: epoch)
                    queued += 1
                }
                let loss = try trainStep(indices: indices)
                if stepPause > 0 { Thread.sleep(forTimeInterval: stepPause) }
                step += 1
                positionInEpoch += 1
                windowLoss += Double(loss)
                windowSteps += 1
                if step % options.logEvery == 0 || step == totalSteps || positionInEpoch == stepsPerEpoch {
                    try logProgress(lossSum: windowLoss, steps: windowSteps, since: windowStart, startOfRun: start, firstStep: firstStep)
                    windowLoss = 0; windowSteps = 0
                    windowStart = DispatchTime.now().uptimeNanoseconds
                }
                stopReason = try stopRequested(stepsThisRun: step - firstStep)
                if stopReason != nil {
                    for _ in 0..<queued { try trainLoader.take(pixels: input.baseAddress!, labels: labels.baseAddress!) }
                    break
                }
                if step == totalSteps { break }
                if options.checkpointEvery > 0 && step % options.checkpointEvery == 0 { saveCheckpoint(required: false) }
            }
            if positionInEpoch == stepsPerEpoch {
                epoch += 1
                positionInEpoch = 0
                saveCheckpoint(required: false)
                if options.evalEvery > 0 && epoch % options.evalEvery == 0 && stopReason == nil {
                    lastEvaluation = (step, try evaluateAndLog())
                }
            }
            if stopReason != nil { break epochs }
        }
        if let stopReason {
            saveCheckpoint(required: true)
            log.line("stopped at step \(step) (\(stopReason)); continue with the same command and --resume auto")
        } else {
            if lastEvaluation?.step != step { lastEvaluation = (step, try evaluateAndLog()) }
            saveCheckpoint(required: true)
            try saveFinalWeights()
        }
        if let log = data.badImages, log.badImageCount > 0 {
            self.log.line("warning: \(log.badImageCount) unusable image(s) met; \(log.substitutionCount) sample(s) substituted (see the warnings above)")
        }
        if let error = checkpointError { throw error }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return TrainingSummary(steps: step, stepsThisRun: step - firstStep, epochs: epoch, finalEvaluation: lastEvaluation?.result,
                               seconds: seconds, evaluationSeconds: evaluationSeconds,
                               imagesPerSecond: Double((step - firstStep) * global) / max(1e-9, seconds - evaluationSeconds),
                               stoppedEarly: stopReason)
    }

    /// Whether every rank should stop after this step: a stop signal on any rank, or this run's
    /// step budget. All ranks agree (one tiny all-reduce), so they stop at the same step.
    private func stopRequested(stepsThisRun: Int) throws -> String? {
        var signal = Int(StopSignals.pending)
        if comm.size > 1 { signal = try comm.allreduceMax(signal) }
        if signal != 0 { return StopSignals.name(Int32(signal)) }
        if let budget = options.stopAfterSteps, stepsThisRun >= budget { return "--stop-after-steps \(budget)" }
        return nil
    }

    /// Forward and backward of every micro-batch, all-reduce, clipping, optimizer step. Returns the
    /// mean loss of this rank's micro-batches.
    private func trainStep(indices: [Int]) throws -> Float {
        let b = options.batchSize, k = options.gradientAccumulation
        // As PyTorch DDP (broadcast_buffers=True): every training step starts from rank 0's
        // BatchNorm running statistics, so the replicas never drift apart.
        if comm.size > 1 && !options.syncBatchNorm {
            try comm.broadcast(model.buffers, root: 0)
        }
        model.zeroGradients()
        var loss: Float = 0
        for micro in 0..<k {
            let ids = Array(indices[(micro * b)..<((micro + 1) * b)])
            let x = input.baseAddress! + micro * b * trainLoader.floatsPerSample
            // Keyed by optimizer step and sample id only: the same sample gets the same mask whether
            // it is in this rank's micro-batch, another rank's, or another world size's.
            model.forward(input: x, batch: b, training: true,
                          dropout: .keyed(seed: options.seed, step: UInt64(step), sampleIDs: ids))
            let result = model.crossEntropy(labels: labels.baseAddress! + micro * b, batch: b)
            loss += result.loss / Float(k)
            if k > 1 {
                let d = model.logitsGradient
                for i in 0..<(b * options.model.numClasses) { d[i] /= Float(k) }
            }
            // Gradients are reduced once per step: only the last micro-batch reports to the reducer.
            let hook = model.gradientsReady
            if micro < k - 1 { model.gradientsReady = nil }
            model.backward(input: x, batch: b)
            model.gradientsReady = hook
            if let error = reduceError { throw error }
        }
        try reducer?.finish()
        try stopIfNotFinite(loss: loss)
        if let maxNorm = options.clipGradNorm { clipGradientNorm(model.gradients, maxNorm: maxNorm) }
        optimizer.step(parameters: model.parameters, gradients: UnsafeBufferPointer(model.gradients),
                       lr: schedule.learningRate(at: step))
        return loss
    }

    /// A NaN or infinite loss or gradient on any rank ends the run before the optimizer applies it:
    /// the weights stay those of the last good step and every checkpoint on disk is kept. All ranks
    /// agree (the gradients are already reduced; the losses take one tiny all-reduce).
    private func stopIfNotFinite(loss: Float) throws {
        let gradientsFinite = !model.gradients.contains { !$0.isFinite }
        var bad = loss.isFinite && gradientsFinite ? 0 : 1
        if comm.size > 1 { bad = try comm.allreduceMax(bad) }
        guard bad != 0 else { return }
        // Only now, on the way out: which tensor.
        let badGradient = gradientsFinite ? nil : model.parameterTable.entries.first { entry in
            model.gradients[entry.offset..<(entry.offset + entry.count)].contains { !$0.isFinite }
        }
        let newest = (try? checkpoints.checkpoints().last?.path) ?? nil
        let what = !loss.isFinite ? "the loss is \(loss)" + (badGradient.map { "; first non-finite gradient: \($0.name)" } ?? "")
            : badGradient.map { "a gradient is not finite (first: \($0.name))" } ?? "the loss is not finite on another rank"
        throw TrainingFailure("step \(step + 1): \(what)"
                         + "; training stopped before that step's update. "
                         + (newest.map { "Newest checkpoint: \($0) (continue from it with --resume auto, e.g. with a lower --lr or --clip-grad-norm)" }
                            ?? "No checkpoint was written yet; try a lower --lr or --clip-grad-norm"))
    }

    // MARK: Output

    private func logProgress(lossSum: Double, steps: Int, since windowStart: UInt64, startOfRun: UInt64, firstStep: Int) throws {
        var totals = [lossSum, Double(steps)]
        if comm.size > 1 { try totals.withUnsafeMutableBufferPointer { try comm.allreduceSum($0) } }
        guard comm.rank == 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let loss = totals[0] / totals[1]
        let images = Double(steps * options.batchSize * options.gradientAccumulation * comm.size)
        let rate = images / (Double(now - windowStart) / 1e9)
        let elapsed = Double(now - startOfRun) / 1e9
        let eta = elapsed / Double(step - firstStep) * Double(totalSteps - step)
        let lr = schedule.learningRate(at: max(0, step - 1))
        log.line(String(format: "epoch %d/%d step %d/%d (%d/%d) loss %.4f lr %.2e %.1f img/s ETA %@",
                        epoch + 1, options.epochs, step, totalSteps, positionInEpoch, stepsPerEpoch, loss, lr, rate,
                        formatDuration(eta)))
        log.record(["step": step, "epoch": Double(epoch) + Double(positionInEpoch) / Double(stepsPerEpoch), "loss": loss,
                    "lr": lr, "images_per_second": rate])
    }

    private func evaluateAndLog() throws -> EvaluationResult {
        // The model is rank 0's (the one checkpoints hold): without --sync-bn every rank updated
        // its own BatchNorm statistics in the last step.
        if comm.size > 1 && !options.syncBatchNorm { try comm.broadcast(model.buffers, root: 0) }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try evaluate(model: model, loader: testLoader, batchSize: options.evalBatchSize, comm: comm,
                                  input: input.baseAddress!, labels: labels.baseAddress!)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        evaluationSeconds += seconds
        // Where the run is: after a whole epoch, or part-way through the next (an end by --max-steps).
        let when = positionInEpoch == 0 ? "after epoch \(epoch) (step \(step))"
            : "at step \(step) (epoch \(epoch + 1), batch \(positionInEpoch)/\(stepsPerEpoch))"
        log.line("eval \(when): \(result.accuracySummary) on \(result.samples) images" + String(format: " (%.1f s)", seconds))
        log.record(["step": step, "epoch": Double(epoch) + Double(positionInEpoch) / Double(stepsPerEpoch),
                    "eval_loss": result.loss, "eval_top1": result.top1, "eval_top5": result.top5, "eval_samples": result.samples])
        if comm.rank == 0 {
            let path = options.runDirectory + "/eval-per-class.csv"
            do { try result.perClassCSV(classNames: data.classNames).write(toFile: path, atomically: true, encoding: .utf8) } catch {
                log.line("warning: cannot write \(path): \(fileErrorReason(error))")
            }
        }
        return result
    }

    private var checkpointError: Error?
    /// Seconds this invocation spent evaluating, left out of the training rate.
    private var evaluationSeconds = 0.0

    /// Rank 0 writes RUN_DIR/checkpoints/step-<N>.wmx (atomically; the previous one stays until the
    /// new one is complete). A failed periodic save is reported and training goes on; a failed
    /// final or stop save fails the run.
    private func saveCheckpoint(required: Bool) {
        guard comm.rank == 0, savedAtStep != step else { return }
        let start = DispatchTime.now().uptimeNanoseconds
        let metadata = CheckpointMetadata(
            kind: CheckpointMetadata.trainingKind, libraryVersion: libraryVersion, model: options.model,
            imageHeight: model.imageHeight, imageWidth: model.imageWidth, parameterCount: model.parameterCount,
            options: options, step: step, epoch: epoch, positionInEpoch: positionInEpoch, worldSize: comm.size,
            globalBatch: options.batchSize * options.gradientAccumulation * comm.size, optimizerSteps: optimizer.stepCount,
            optimizerState: optimizer.settings.stateNames, counterNames: model.counterNames)
        do {
            let path = try checkpoints.save(CheckpointSections.writer(model: model, optimizer: optimizer, metadata: metadata),
                                            step: step, keep: options.keepCheckpoints)
            savedAtStep = step
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            log.line(String(format: "checkpoint %@ (%.2f s)", path, seconds))
        } catch {
            log.line("warning: checkpoint at step \(step) failed: \(error); the previous checkpoint is intact")
            if required { checkpointError = error }
        }
    }

    /// RUN_DIR/model.safetensors: the final state dict under the official names (rank 0).
    private func saveFinalWeights() throws {
        guard comm.rank == 0 else { return }
        let path = options.runDirectory + "/model.safetensors"
        try StateDictFiles.write(model.stateDict(), to: path, metadata: ["format": "pt", "step": "\(step)"])
        log.line("wrote \(path)")
    }
}
