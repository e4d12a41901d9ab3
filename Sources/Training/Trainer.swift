// The training loop: every rank holds a replica, reads its shard of each global batch, and the
// gradients are averaged over ranks (GradientReducer) before the optimizer step; rank 0 logs,
// evaluates with everyone (sharded) and writes the run directory and the checkpoints. With a
// validation split (ModelSelection) every epoch ends with a validation, the best model is kept, a
// plateau may start the second phase or end the run, and the test set is evaluated at the end on
// the selected model.
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
    /// With a validation split: where the selected model was taken and its validation top-1.
    public var selected: (step: Int, epoch: Int, validationTop1: Double)?
    /// The run had already finished: this invocation trained and evaluated nothing.
    public var alreadyComplete = false
}

public final class Trainer {
    public let options: TrainingOptions
    let comm: Communicator
    let data: DataSet
    let model: WaveMixModel
    private(set) var optimizer: Optimizer
    let schedule: LRSchedule
    let sampler: EpochSampler
    let trainLoader: BatchLoader
    let testLoader: BatchLoader
    /// The validation part of the training split (with --val-split).
    let validationLoader: BatchLoader?
    let reducer: GradientReducer?
    let log: RunLog
    let layout: RunLayout
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
    /// Selection state, the current epoch's training totals and the run's wall time so far.
    public private(set) var progress = RunProgress()
    /// The run's wall time before this invocation, and when this invocation started.
    private var elapsedBefore = 0.0
    private var startOfInvocation = DispatchTime.now().uptimeNanoseconds

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
        let split = try options.selection.map { try ValidationSplit.split(data.train, size: $0.validationSize, seed: options.seed) }
        let source: any ImageSource = split?.train ?? data.train
        model = try WaveMixModel(config: options.model, imageHeight: source.height, imageWidth: source.width, seed: options.seed)
        optimizer = Optimizer(options.optimizer, parameterCount: model.parameterCount)
        sampler = try EpochSampler(count: source.count, batchSize: options.globalBatch(worldSize: 1),
                                   worldSize: comm.size, rank: comm.rank, seed: options.seed)
        let totalSteps = min(options.maxSteps ?? Int.max, options.epochs * sampler.batchesPerEpoch)
        schedule = LRSchedule(options.scheduleSettings, baseLR: options.learningRate, totalSteps: totalSteps)
        let threads = Parallel.threads
        let transform = SampleTransform(for: source, outputChannels: options.model.inChans, normalization: data.normalization,
                                        augmentation: options.augmentation, seed: options.seed)
        trainLoader = BatchLoader(source: source, transform: transform, threads: threads)
        let evalTransform = SampleTransform(for: data.test, outputChannels: options.model.inChans, normalization: data.normalization)
        testLoader = BatchLoader(source: data.test, transform: evalTransform, threads: threads)
        validationLoader = split.map { split in
            BatchLoader(source: split.validation, transform: SampleTransform(for: split.validation, outputChannels: options.model.inChans,
                                                                              normalization: data.normalization), threads: threads)
        }
        // A step's whole batch (all micro-batches) is loaded at once; evaluation reuses the buffers.
        let samples = max(options.globalBatch(worldSize: 1), options.evalBatchSize)
        input = .allocate(capacity: samples * transform.outputCount)
        labels = .allocate(capacity: samples)
        model.reserve(batch: max(options.batchSize, options.evalBatchSize))
        reducer = comm.size > 1 ? GradientReducer(comm: comm, model: model, bucketBytes: Int(options.bucketMiB * 1_048_576)) : nil
        layout = RunLayout(options.runDirectory)
        log = try RunLog(layout: layout, isWriter: comm.rank == 0, append: resuming, tensorBoard: options.tensorBoard)
        checkpoints = layout.checkpoints
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
    /// Training images in one epoch (the training split less the validation part).
    public var trainingImages: Int { trainLoader.source.count }
    private var globalBatch: Int { options.globalBatch(worldSize: comm.size) }

    /// The learning rate of the step after `step` steps: the schedule, or the second phase's constant rate.
    private func learningRate(at step: Int) -> Double {
        if progress.selection.phase == 2, let second = options.selection?.secondPhase { return second.learningRate }
        return schedule.learningRate(at: step)
    }

    /// The run's wall time so far, over every sitting.
    private var elapsedSeconds: Double {
        elapsedBefore + Double(DispatchTime.now().uptimeNanoseconds - startOfInvocation) / 1e9
    }

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
        progress = metadata.progress ?? RunProgress()
        elapsedBefore = progress.elapsedSeconds
        if progress.selection.phase == 2, let second = options.selection?.secondPhase {
            optimizer = Optimizer(second.optimizer, parameterCount: model.parameterCount)
        }
        if let reader {
            try CheckpointSections.restoreModel(model, from: reader)
            try CheckpointSections.restoreOptimizer(optimizer, steps: metadata.optimizerSteps, from: reader)
        }
        if comm.size > 1 {
            try shareModelState()
            for name in optimizer.settings.stateNames { try comm.broadcast(optimizer.state[name]!, root: 0) }
            optimizer.stepCount = metadata.optimizerSteps
        }
        step = metadata.step
        epoch = metadata.epoch
        positionInEpoch = metadata.positionInEpoch
        savedAtStep = step
        try log.forget(after: step, runCompleted: progress.completed)
        // The `best` pointer follows the checkpoint's own selection (a branch may have moved the newer best aside).
        if comm.rank == 0 && options.selection != nil {
            do {
                if let best = progress.selection.bestStep { try checkpoints.markBest(step: best) } else { try checkpoints.removeBestPointer() }
            } catch {
                throw InputError("\(error)")
            }
        }
    }

    /// Loads weights (a state dict) before training starts: fine-tuning from imported weights.
    public func initializeWeights(_ tensors: [StateTensor]) throws {
        try model.loadStateDict(tensors)
        try synchronizeInitialState()
    }

    // MARK: Loop

    public func run() throws -> TrainingSummary {
        startOfInvocation = DispatchTime.now().uptimeNanoseconds
        let firstStep = step
        log.line("kernels: \(KernelSelection.current.description)")
        let validation = validationLoader.map { ", \($0.source.count) more held out for validation" } ?? ""
        log.line("training \(model.parameterCount) parameters on \(trainingImages) images (\(data.spec)\(validation), "
                 + "\(options.model.numClasses) classes), \(comm.size) rank(s) x \(Parallel.threads) thread(s), global batch \(globalBatch), "
                 + "\(stepsPerEpoch) steps/epoch, \(totalSteps) steps"
                 + (step > 0 ? "; resuming at step \(step) (epoch \(epoch + 1), batch \(positionInEpoch + 1))" : ""))
        if progress.completed && isAtEnd {
            log.line("the run is already complete at step \(step); nothing to train (its results: \(layout.summary))")
            return TrainingSummary(steps: step, stepsThisRun: 0, epochs: epoch, finalEvaluation: nil, seconds: 0, evaluationSeconds: 0,
                                   imagesPerSecond: 0, stoppedEarly: nil, alreadyComplete: true)
        }
        progress.completed = false
        var window = LossWindow()
        var stopReason: String?
        epochs: while true {
            // An epoch whose last step is done ends here, also when a stop came right after that step.
            if positionInEpoch == stepsPerEpoch, try endEpoch() == .stop { break }
            guard epoch < options.epochs && step < totalSteps && !progress.selection.finished else { break }
            // The loader's threads assemble up to queueDepth batches ahead of the one computing.
            let batches = Array(sampler.batches(epoch: epoch, from: positionInEpoch).prefix(totalSteps - step))
            var queued = 0
            while queued < min(trainLoader.queueDepth, batches.count) {
                trainLoader.prefetch(indices: batches[queued], epoch: epoch)
                queued += 1
            }
            for (i, indices) in batches.enumerated() {
                let stepStart = DispatchTime.now().uptimeNanoseconds
                try trainLoader.take(pixels: input.baseAddress!, labels: labels.baseAddress!)
                queued -= 1
                if i + trainLoader.queueDepth < batches.count {
                    trainLoader.prefetch(indices: batches[i + trainLoader.queueDepth], epoch: epoch)
                    queued += 1
                }
                let loss = try trainStep(indices: indices)
                if stepPause > 0 { Thread.sleep(forTimeInterval: stepPause) }
                progress.epochTrainingSeconds += Double(DispatchTime.now().uptimeNanoseconds - stepStart) / 1e9
                step += 1
                positionInEpoch += 1
                window.sum += Double(loss)
                window.steps += 1
                let endOfEpoch = positionInEpoch == stepsPerEpoch
                if step % options.logEvery == 0 || step == totalSteps || endOfEpoch {
                    try flush(&window, printing: true, firstStep: firstStep)
                }
                stopReason = try stopRequested(stepsThisRun: step - firstStep)
                if stopReason != nil {
                    for _ in 0..<queued { try trainLoader.take(pixels: input.baseAddress!, labels: labels.baseAddress!) }
                    break
                }
                if step == totalSteps { break }
                if options.checkpointEvery > 0 && step % options.checkpointEvery == 0 && !endOfEpoch {
                    try flush(&window, printing: false, firstStep: firstStep)
                    saveCheckpoint(required: false)
                }
            }
            if stopReason != nil { break epochs }
        }
        try flush(&window, printing: false, firstStep: firstStep)
        var finalEvaluation: EvaluationResult?
        var selected: (step: Int, epoch: Int, validationTop1: Double)?
        if let stopReason {
            saveCheckpoint(required: true)
            log.line("stopped at step \(step) (\(stopReason)); continue with the same command and --resume auto")
        } else {
            // A run that ends part-way through an epoch (--max-steps) is evaluated where it ends.
            if lastEvaluatedStep != step { try evaluatePartialEpoch() }
            saveCheckpoint(required: true)
            if let checkpointError { throw checkpointError }
            if options.selection != nil {
                let (result, best) = try evaluateSelectedModel()
                finalEvaluation = result
                selected = best
            } else {
                finalEvaluation = lastTestResult
                try saveFinalWeights(from: model, note: nil)
            }
            progress.completed = true
            saveCheckpoint(required: true, rewrite: true)
        }
        if let log = data.badImages, log.badImageCount > 0 {
            self.log.line("warning: \(log.badImageCount) unusable image(s) met; \(log.substitutionCount) sample(s) substituted (see the warnings above)")
        }
        if let error = checkpointError { throw error }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - startOfInvocation) / 1e9
        return TrainingSummary(steps: step, stepsThisRun: step - firstStep, epochs: epoch, finalEvaluation: finalEvaluation,
                               seconds: seconds, evaluationSeconds: evaluationSeconds,
                               imagesPerSecond: Double((step - firstStep) * globalBatch) / max(1e-9, seconds - evaluationSeconds),
                               stoppedEarly: stopReason, selected: selected)
    }

    /// Whether there is nothing left to train: the epochs or steps are done, or the last plateau came.
    private var isAtEnd: Bool {
        (epoch >= options.epochs || step >= totalSteps || progress.selection.finished) && positionInEpoch != stepsPerEpoch
    }

    /// The step of this invocation's last evaluation (validation with a split, else test), and the last test result.
    private var lastEvaluatedStep: Int?
    private var lastTestResult: EvaluationResult?

    /// The end of an epoch: its summary row, the evaluations due, the selection's decision and the
    /// checkpoint (after them, so a run resumed from it never repeats or skips them).
    private func endEpoch() throws -> SelectionState.Decision? {
        epoch += 1
        positionInEpoch = 0
        var row = trainingRow(epoch: epoch)
        progress.epochLossSum = 0
        progress.epochSteps = 0
        progress.epochTrainingSeconds = 0
        let lastEpoch = epoch >= options.epochs || step >= totalSteps
        var decision: SelectionState.Decision?
        if let selection = options.selection {
            let validation = try evaluateAndLog(.validation)
            row.validation = validation
            if selection.testEveryEpoch { row.test = try evaluateAndLog(.test) }
            decision = progress.selection.record(top1: validation.top1, step: step, epoch: epoch, patience: selection.patience,
                                                 hasSecondPhase: selection.secondPhase != nil)
        } else if (options.evalEvery > 0 && epoch % options.evalEvery == 0) || lastEpoch {
            row.test = try evaluateAndLog(.test)
        }
        row.elapsedSeconds = elapsedSeconds
        log.summaryRow(row)
        switch decision {
        case .improved?:
            try saveBestCheckpoint()
        case .startSecondPhase?:
            try startSecondPhase()
            saveCheckpoint(required: false)
        case .stop?:
            log.line("validation top-1 has not improved for \(options.selection?.patience ?? 0) epochs: training ends "
                     + "(best \(bestDescription))")
            saveCheckpoint(required: false)
        case .noImprovement?, nil:
            saveCheckpoint(required: false)
        }
        return decision
    }

    /// The evaluation of a run that ends part-way through an epoch, with a summary row for that part.
    private func evaluatePartialEpoch() throws {
        var row = trainingRow(epoch: epoch + 1)
        var improved = false
        if let selection = options.selection {
            let validation = try evaluateAndLog(.validation)
            row.validation = validation
            // Where it ends is a candidate too (no phase change: the run ends here either way).
            improved = progress.selection.record(top1: validation.top1, step: step, epoch: epoch, patience: nil,
                                                 hasSecondPhase: false) == .improved
            if selection.testEveryEpoch { row.test = try evaluateAndLog(.test) }
        } else {
            row.test = try evaluateAndLog(.test)
        }
        row.elapsedSeconds = elapsedSeconds
        log.summaryRow(row)
        if improved { try saveBestCheckpoint() }
    }

    /// The summary row of the epoch's training so far (its evaluations and wall time are added by the caller).
    private func trainingRow(epoch: Int) -> SummaryRow {
        let steps = progress.epochSteps, seconds = progress.epochTrainingSeconds
        return SummaryRow(epoch: epoch, step: step, phase: progress.selection.phase,
                          trainLoss: steps > 0 ? progress.epochLossSum / Double(steps) : nil,
                          learningRate: learningRate(at: max(0, step - 1)),
                          imagesPerSecond: seconds > 0 ? Double(steps * globalBatch) / seconds : nil, elapsedSeconds: 0)
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
                       lr: learningRate(at: step))
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

    /// The losses of the steps since the last flush, on this rank.
    private struct LossWindow {
        var sum = 0.0
        var steps = 0
        var start = DispatchTime.now().uptimeNanoseconds
    }

    /// Adds the window's losses, averaged over ranks, to the epoch's totals, and at log points prints
    /// a progress line and a metrics.jsonl record. Every rank calls it at the same steps.
    private func flush(_ window: inout LossWindow, printing: Bool, firstStep: Int) throws {
        defer { window = LossWindow() }
        guard window.steps > 0 else { return }
        var totals = [window.sum, Double(window.steps)]
        if comm.size > 1 { try totals.withUnsafeMutableBufferPointer { try comm.allreduceSum($0) } }
        progress.epochLossSum += totals[0] / Double(comm.size)
        progress.epochSteps += window.steps
        guard printing, comm.rank == 0 else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let loss = totals[0] / totals[1]
        let rate = Double(window.steps * globalBatch) / (Double(now - window.start) / 1e9)
        let elapsed = Double(now - startOfInvocation) / 1e9
        let eta = elapsed / Double(step - firstStep) * Double(totalSteps - step)
        let lr = learningRate(at: max(0, step - 1))
        log.line(String(format: "epoch %d/%d step %d/%d (%d/%d) loss %.4f lr %.2e %.1f img/s ETA %@",
                        epoch + 1, options.epochs, step, totalSteps, positionInEpoch, stepsPerEpoch, loss, lr, rate,
                        formatDuration(eta)))
        log.record(["step": step, "epoch": Double(epoch) + Double(positionInEpoch) / Double(stepsPerEpoch), "loss": loss,
                    "lr": lr, "images_per_second": rate])
    }

    private enum EvaluationSet: Equatable {
        case validation, test
        /// The test set through the selected model (the best validation top-1, at `step` after `epoch`).
        case selectedTest(step: Int, epoch: Int)
    }

    private func evaluateAndLog(_ set: EvaluationSet) throws -> EvaluationResult {
        // The model is rank 0's (the one checkpoints hold): without --sync-bn every rank updated
        // its own BatchNorm statistics in the last step.
        if comm.size > 1 && !options.syncBatchNorm { try comm.broadcast(model.buffers, root: 0) }
        let start = DispatchTime.now().uptimeNanoseconds
        let loader = set == .validation ? validationLoader! : testLoader
        let result = try evaluate(model: model, loader: loader, batchSize: options.evalBatchSize, comm: comm,
                                  input: input.baseAddress!, labels: labels.baseAddress!)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        evaluationSeconds += seconds
        // Where the run is: after a whole epoch, or part-way through the next (an end by --max-steps).
        let when = positionInEpoch == 0 ? "after epoch \(epoch) (step \(step))"
            : "at step \(step) (epoch \(epoch + 1), batch \(positionInEpoch)/\(stepsPerEpoch))"
        // metrics.jsonl keys: val_* for validation, eval_* for the test set (as runs without a split log it).
        let key = set == .validation ? "val" : "eval"
        var record: [String: Any] = ["step": step, "epoch": Double(epoch) + Double(positionInEpoch) / Double(stepsPerEpoch),
                                     "\(key)_loss": result.loss, "\(key)_top1": result.top1, "\(key)_top5": result.top5,
                                     "\(key)_samples": result.samples]
        let what: String
        switch set {
        case .validation:
            what = "val \(when)"
        case .test:
            what = (options.selection == nil ? "eval " : "test ") + when
        case .selectedTest(let bestStep, let bestEpoch):
            what = "test of the selected model (\(bestDescription))"
            record.merge(["selected_step": bestStep, "selected_epoch": bestEpoch]) { $1 }
        }
        log.line("\(what): \(result.accuracySummary) on \(result.samples) images" + String(format: " (%.1f s)", seconds))
        log.record(record)
        if set != .validation {
            lastTestResult = result
            if comm.rank == 0 {
                let path = layout.evalPerClass
                do { try result.perClassCSV(classNames: data.classNames).write(toFile: path, atomically: true, encoding: .utf8) } catch {
                    log.line("warning: cannot write \(path): \(fileErrorReason(error))")
                }
            }
        }
        if set != .test || options.selection == nil { lastEvaluatedStep = step }
        return result
    }

    /// "epoch 12, step 1416, validation top-1 93.10%".
    private var bestDescription: String {
        let s = progress.selection
        guard let step = s.bestStep, let epoch = s.bestEpoch, let top1 = s.bestTop1 else { return "none yet" }
        return String(format: "epoch %d, step %d, validation top-1 %.2f%%", epoch, step, 100 * top1)
    }

    /// Saves this step's checkpoint and points RUN_DIR/checkpoints/best at it (rank 0). The selected
    /// model must be on disk: without it the run cannot deliver what it selected, so a failure ends the run.
    private func saveBestCheckpoint() throws {
        saveCheckpoint(required: true)
        if let checkpointError { throw checkpointError }
        guard comm.rank == 0 else { return }
        do { try checkpoints.markBest(step: step) } catch { throw TrainingFailure("cannot mark the best checkpoint: \(error)") }
    }

    /// Loads the model state (parameters, BatchNorm statistics and counters) of step `step`'s
    /// checkpoint on rank 0 and shares it with every rank.
    private func loadModel(fromCheckpointAt step: Int) throws {
        if comm.rank == 0 {
            let path = checkpoints.checkpointsDirectory + "/" + CheckpointDirectory.fileName(step: step)
            do {
                let reader = try CheckpointReader(contentsOf: path)
                try reader.verify()
                try CheckpointSections.restoreModel(model, from: reader)
            } catch {
                throw TrainingFailure("the selected model's checkpoint \(path) cannot be read: \(error)")
            }
        }
        if comm.size > 1 { try shareModelState() }
    }

    /// Rank 0's parameters, BatchNorm statistics and counters become every rank's.
    private func shareModelState() throws {
        try comm.broadcast(model.parameters, root: 0)
        try comm.broadcast(model.buffers, root: 0)
        try model.batchCounters.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
    }

    /// The first phase's plateau: the best model so far continues with the second phase's optimizer
    /// (fresh state, constant learning rate), as the official recipe does.
    private func startSecondPhase() throws {
        guard let second = options.selection?.secondPhase, let best = progress.selection.bestStep else { return }
        try loadModel(fromCheckpointAt: best)
        optimizer = Optimizer(second.optimizer, parameterCount: model.parameterCount)
        log.line("validation top-1 has not improved for \(options.selection?.patience ?? 0) epochs: phase 2 (\(second.optimizer.kind.rawValue), "
                 + String(format: "lr %g", second.learningRate) + ") continues from the best model (\(bestDescription))")
    }

    /// The test set through the selected model, which RUN_DIR/model.safetensors then holds; the
    /// trainer's own state (the newest step's) is put back afterwards.
    private func evaluateSelectedModel() throws -> (EvaluationResult, (step: Int, epoch: Int, validationTop1: Double)) {
        let s = progress.selection
        guard let bestStep = s.bestStep, let bestEpoch = s.bestEpoch, let bestTop1 = s.bestTop1 else {
            throw TrainingFailure("no validation result to select a model by")
        }
        let current = (Array(model.parameters), Array(model.buffers), model.batchCounters)
        defer {
            _ = model.parameters.update(from: current.0)
            _ = model.buffers.update(from: current.1)
            model.batchCounters = current.2
        }
        if bestStep != step { try loadModel(fromCheckpointAt: bestStep) }
        let result = try evaluateAndLog(.selectedTest(step: bestStep, epoch: bestEpoch))
        log.summaryRow(SummaryRow(epoch: bestEpoch, step: bestStep, phase: s.phase, test: result, elapsedSeconds: elapsedSeconds))
        try saveFinalWeights(from: model, note: "the selected model: \(bestDescription)")
        return (result, (bestStep, bestEpoch, bestTop1))
    }

    private var checkpointError: Error?
    /// Seconds this invocation spent evaluating, left out of the training rate.
    private var evaluationSeconds = 0.0

    /// Rank 0 writes RUN_DIR/checkpoints/step-<N>.wmx (atomically; the previous one stays until the
    /// new one is complete). A failed periodic save is reported and training goes on; a failed
    /// final or stop save fails the run. `rewrite` saves again a step already saved (to record that
    /// the run is complete).
    private func saveCheckpoint(required: Bool, rewrite: Bool = false) {
        guard comm.rank == 0, savedAtStep != step || rewrite else { return }
        let start = DispatchTime.now().uptimeNanoseconds
        progress.elapsedSeconds = elapsedSeconds
        let metadata = CheckpointMetadata(
            kind: CheckpointMetadata.trainingKind, libraryVersion: libraryVersion, model: options.model,
            imageHeight: model.imageHeight, imageWidth: model.imageWidth, parameterCount: model.parameterCount,
            options: options, step: step, epoch: epoch, positionInEpoch: positionInEpoch, worldSize: comm.size,
            globalBatch: globalBatch, optimizerSteps: optimizer.stepCount,
            optimizerState: optimizer.settings.stateNames, counterNames: model.counterNames, progress: progress)
        do {
            let path = try checkpoints.save(CheckpointSections.writer(model: model, optimizer: optimizer, metadata: metadata),
                                            step: step, keep: options.keepCheckpoints)
            savedAtStep = step
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            log.line(String(format: "checkpoint %@ (%.2f s)", path, seconds) + (progress.completed ? ", the run is complete" : ""))
        } catch {
            log.line("warning: checkpoint at step \(step) failed: \(error); the previous checkpoint is intact")
            if required { checkpointError = error }
        }
    }

    /// RUN_DIR/model.safetensors: a state dict under the official names (rank 0).
    private func saveFinalWeights(from model: WaveMixModel, note: String?) throws {
        guard comm.rank == 0 else { return }
        let path = layout.model
        var metadata = ["format": "pt", "step": "\(step)"]
        if let best = progress.selection.bestStep { metadata["step"] = "\(best)" }
        try StateDictFiles.write(model.stateDict(), to: path, metadata: metadata)
        log.line("wrote \(path)" + (note.map { " (\($0))" } ?? ""))
    }
}
