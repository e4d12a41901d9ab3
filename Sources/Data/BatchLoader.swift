// Batch assembly: for a list of sample indices and an epoch, writes the transformed images as one
// [B, H, W, C] contiguous Float32 block (NHWC) and the labels as B Int32s into caller-provided memory.
//   load      assembles a batch now, its samples split over `threads` threads (concurrentPerform);
//   prefetch  queues a batch for a pool of `threads` decoding threads that work ahead of the trainer;
//             up to `queueDepth` batches may be queued, each assembled into its own slot, so memory
//             stays at queueDepth batches whatever the data set size;
//   take      waits for the oldest queued batch and copies it out.
// The pool splits every queued batch into chunks of samples and runs them in queue order, so the
// threads move on to the next batch while the last chunks of one finish. Every sample depends only
// on (source, transform, epoch, sample index), so the result is bitwise the same with any thread
// count and queue depth, with or without prefetching.
//
// A BatchLoader is meant to be driven from one thread (the training loop).

import Dispatch

public final class BatchLoader {
    public let source: any ImageSource
    public let transform: SampleTransform
    /// Threads that share the samples of one batch (load) or of the queued batches (prefetch).
    public let threads: Int
    /// The most batches prefetched and not yet taken.
    public let queueDepth: Int

    private var pool: AssemblyPool?
    private var queued: [PrefetchSlot] = []
    private var spare: [PrefetchSlot] = []

    public init(source: any ImageSource, transform: SampleTransform, threads: Int = 1, queueDepth: Int = 2) {
        precondition(threads > 0 && queueDepth > 0, "BatchLoader: threads and queue depth must be positive")
        precondition((transform.height, transform.width, transform.inputChannels) == (source.height, source.width, source.channels),
                     "BatchLoader: transform expects \(transform.height)x\(transform.width)x\(transform.inputChannels), "
                        + "source gives \(source.height)x\(source.width)x\(source.channels)")
        self.source = source
        self.transform = transform
        self.threads = threads
        self.queueDepth = queueDepth
    }

    deinit { pool?.shutdown() }

    /// Floats per sample in the pixel output: H * W * C.
    public var floatsPerSample: Int { transform.outputCount }

    /// Assembles the samples `indices` of epoch `epoch` now. `pixels` has room for
    /// indices.count * floatsPerSample floats, `labels` for indices.count labels.
    public func load(indices: [Int], epoch: Int, pixels: UnsafeMutablePointer<Float>,
                     labels: UnsafeMutablePointer<Int32>) throws(DataError) {
        checkIndices(indices)
        let chunks = max(1, min(threads, indices.count))
        let job = BatchJob(source: source, transform: transform, indices: indices, epoch: epoch, chunks: chunks,
                           output: BatchOutput(pixels: pixels, labels: labels))
        if chunks == 1 {
            job.run(chunk: 0)
        } else {
            DispatchQueue.concurrentPerform(iterations: chunks) { job.run(chunk: $0) }
        }
        if let error = job.firstError { throw error }
    }

    /// Queues a batch for the decoding threads; collect it with `take`. At most queueDepth at a time.
    public func prefetch(indices: [Int], epoch: Int) {
        precondition(queued.count < queueDepth, "BatchLoader.prefetch: \(queueDepth) batches are queued already; take one first")
        checkIndices(indices)
        let slot = spare.popLast().flatMap { $0.capacity >= indices.count ? $0 : nil }
            ?? PrefetchSlot(samples: indices.count, floatsPerSample: floatsPerSample)
        let chunks = max(1, min(indices.count, 4 * threads))
        let job = BatchJob(source: source, transform: transform, indices: indices, epoch: epoch, chunks: chunks,
                           output: BatchOutput(pixels: slot.pixels, labels: slot.labels))
        slot.job = job
        queued.append(slot)
        if pool == nil { pool = AssemblyPool(threads: threads) }
        pool!.submit(job, done: slot.done)
    }

    /// Waits for the oldest queued batch, copies it into `pixels` and `labels` (sized as for `load`)
    /// and returns its sample count; rethrows an error its assembly hit.
    @discardableResult
    public func take(pixels: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws(DataError) -> Int {
        precondition(!queued.isEmpty, "BatchLoader.take: nothing was prefetched")
        let slot = queued.removeFirst()
        slot.done.wait()
        let job = slot.job!
        slot.job = nil
        spare.append(slot)
        if let error = job.firstError { throw error }
        pixels.update(from: slot.pixels, count: job.indices.count * floatsPerSample)
        labels.update(from: slot.labels, count: job.indices.count)
        return job.indices.count
    }

    private func checkIndices(_ indices: [Int]) {
        for index in indices {
            precondition(index >= 0 && index < source.count, "BatchLoader: sample \(index) outside 0..<\(source.count)")
        }
    }
}

/// One batch to assemble, split into `chunks` contiguous runs of positions, each run by one thread.
/// Each chunk writes its own samples and its own error slot; errors are read after all finished.
final class BatchJob: @unchecked Sendable {
    let source: any ImageSource
    let transform: SampleTransform
    let indices: [Int]
    let epoch: Int
    let chunks: Int
    let output: BatchOutput
    private let errors: UnsafeMutableBufferPointer<DataError?>

    init(source: any ImageSource, transform: SampleTransform, indices: [Int], epoch: Int, chunks: Int, output: BatchOutput) {
        self.source = source
        self.transform = transform
        self.indices = indices
        self.epoch = epoch
        self.chunks = chunks
        self.output = output
        errors = .allocate(capacity: chunks)
        errors.initialize(repeating: nil)
    }

    deinit {
        _ = errors.deinitialize()
        errors.deallocate()
    }

    /// The error of the lowest failing chunk, so the reported error does not depend on timing.
    var firstError: DataError? { errors.lazy.compactMap { $0 }.first }

    /// Decodes and transforms the samples of chunk `chunk` into their places in the output.
    func run(chunk: Int) {
        let positions = (chunk * indices.count / chunks)..<((chunk + 1) * indices.count / chunks)
        let image = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: source.imageByteCount)
        defer { image.deallocate() }
        let floats = transform.outputCount
        do throws(DataError) {
            for position in positions {
                let index = indices[position]
                let label = try source.sample(index, epoch: epoch, seed: transform.seed, into: image)
                transform.apply(image.baseAddress!, epoch: epoch, sampleIndex: index, into: output.pixels + position * floats)
                output.labels[position] = Int32(label)
            }
        } catch {
            errors[chunk] = error
        }
    }
}

/// The output pointers of one batch, shared by the assembling threads; each writes disjoint samples.
struct BatchOutput: @unchecked Sendable {
    let pixels: UnsafeMutablePointer<Float>
    let labels: UnsafeMutablePointer<Int32>
}

/// Memory a prefetched batch is assembled into. Written only by the pool's threads between
/// `prefetch` and the `done` wait in `take`, read only after that wait.
private final class PrefetchSlot {
    let capacity: Int
    let pixels: UnsafeMutablePointer<Float>
    let labels: UnsafeMutablePointer<Int32>
    let done = DispatchGroup()
    var job: BatchJob?

    init(samples: Int, floatsPerSample: Int) {
        capacity = samples
        pixels = .allocate(capacity: max(1, samples * floatsPerSample))
        labels = .allocate(capacity: max(1, samples))
    }

    deinit {
        pixels.deallocate()
        labels.deallocate()
    }
}
