// Batch assembly: for a list of sample indices and an epoch, writes the transformed images as one
// [B, H, W, C] contiguous Float32 block (NHWC) and the labels as B Int32s into caller-provided memory.
// The samples can be split over T threads (DispatchQueue.concurrentPerform), and the next batch can
// be assembled on a background thread while the trainer computes (prefetch, then take). Every sample
// depends only on (source, transform, epoch, sample index), so the result is bitwise the same with
// any thread count, with or without prefetching.
//
// A BatchLoader is meant to be driven from one thread (the training loop).

import Dispatch

public final class BatchLoader {
    public let source: any ImageSource
    public let transform: SampleTransform
    /// Threads that share the samples of one batch.
    public let threads: Int

    private let prefetchQueue = DispatchQueue(label: "wavemix.data.prefetch")
    private let prefetchDone = DispatchGroup()
    private var slot: PrefetchSlot?
    private var prefetchPending = false

    public init(source: any ImageSource, transform: SampleTransform, threads: Int = 1) {
        precondition(threads > 0, "BatchLoader: threads must be positive")
        precondition((transform.height, transform.width, transform.inputChannels) == (source.height, source.width, source.channels),
                     "BatchLoader: transform expects \(transform.height)x\(transform.width)x\(transform.inputChannels), "
                        + "source gives \(source.height)x\(source.width)x\(source.channels)")
        self.source = source
        self.transform = transform
        self.threads = threads
    }

    /// Floats per sample in the pixel output: H * W * C.
    public var floatsPerSample: Int { transform.outputCount }

    /// Assembles the samples `indices` of epoch `epoch` now. `pixels` has room for
    /// indices.count * floatsPerSample floats, `labels` for indices.count labels.
    public func load(indices: [Int], epoch: Int, pixels: UnsafeMutablePointer<Float>,
                     labels: UnsafeMutablePointer<Int32>) throws(DataError) {
        try Self.assemble(source: source, transform: transform, threads: threads, indices: indices, epoch: epoch,
                          pixels: pixels, labels: labels)
    }

    /// Starts assembling a batch on a background thread; collect it with `take`. One batch at a time.
    public func prefetch(indices: [Int], epoch: Int) {
        precondition(!prefetchPending, "BatchLoader.prefetch: the previous prefetched batch was not taken")
        let needed = indices.count
        if slot == nil || slot!.capacity < needed {
            slot = PrefetchSlot(samples: needed, floatsPerSample: floatsPerSample)
        }
        prefetchPending = true
        let (slot, source, transform, threads) = (slot!, source, transform, threads)
        prefetchQueue.async(group: prefetchDone) {
            slot.count = indices.count
            do throws(DataError) {
                try Self.assemble(source: source, transform: transform, threads: threads, indices: indices, epoch: epoch,
                                  pixels: slot.pixels, labels: slot.labels)
                slot.error = nil
            } catch {
                slot.error = error
            }
        }
    }

    /// Waits for the prefetched batch, copies it into `pixels` and `labels` (sized as for `load`) and
    /// returns its sample count; rethrows an error the background assembly hit.
    @discardableResult
    public func take(pixels: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>) throws(DataError) -> Int {
        precondition(prefetchPending, "BatchLoader.take: nothing was prefetched")
        prefetchDone.wait()
        prefetchPending = false
        let slot = slot!
        if let error = slot.error { throw error }
        pixels.update(from: slot.pixels, count: slot.count * floatsPerSample)
        labels.update(from: slot.labels, count: slot.count)
        return slot.count
    }

    /// Fills pixels/labels for `indices`, splitting the samples into `threads` contiguous chunks.
    private static func assemble(source: any ImageSource, transform: SampleTransform, threads: Int, indices: [Int],
                                 epoch: Int, pixels: UnsafeMutablePointer<Float>,
                                 labels: UnsafeMutablePointer<Int32>) throws(DataError) {
        for index in indices {
            precondition(index >= 0 && index < source.count, "BatchLoader: sample \(index) outside 0..<\(source.count)")
        }
        let chunks = max(1, min(threads, indices.count))
        let output = BatchOutput(pixels: pixels, labels: labels)
        let errors = ChunkErrors(count: chunks)
        defer { errors.deallocate() }
        let assembleChunk: @Sendable (Int) -> Void = { chunk in
            let range = (chunk * indices.count / chunks)..<((chunk + 1) * indices.count / chunks)
            do throws(DataError) {
                try Self.assembleSamples(source: source, transform: transform, indices: indices, positions: range,
                                         epoch: epoch, output: output)
            } catch {
                errors.record(error, chunk: chunk)
            }
        }
        if chunks == 1 {
            assembleChunk(0)
        } else {
            DispatchQueue.concurrentPerform(iterations: chunks, execute: assembleChunk)
        }
        if let error = errors.first { throw error }
    }

    /// Decodes and transforms indices[positions] into their places in the output.
    private static func assembleSamples(source: any ImageSource, transform: SampleTransform, indices: [Int],
                                        positions: Range<Int>, epoch: Int, output: BatchOutput) throws(DataError) {
        let image = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: source.imageByteCount)
        defer { image.deallocate() }
        let floats = transform.outputCount
        for position in positions {
            let index = indices[position]
            try source.pixels(index, into: image)
            transform.apply(image.baseAddress!, epoch: epoch, sampleIndex: index, into: output.pixels + position * floats)
            output.labels[position] = Int32(source.label(index))
        }
    }
}

/// The caller's output pointers, shared by the assembling threads; each writes disjoint samples.
private struct BatchOutput: @unchecked Sendable {
    let pixels: UnsafeMutablePointer<Float>
    let labels: UnsafeMutablePointer<Int32>
}

/// One error slot per chunk, written by that chunk's thread only; read after all chunks finished.
private struct ChunkErrors: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<DataError?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    func record(_ error: DataError, chunk: Int) { slots[chunk] = error }

    /// The error of the lowest failing chunk, so the reported error does not depend on timing.
    var first: DataError? { slots.lazy.compactMap { $0 }.first }

    func deallocate() {
        _ = slots.deinitialize()
        slots.deallocate()
    }
}

/// Memory a prefetched batch is assembled into. Written only by the prefetch thread between
/// `prefetch` and the DispatchGroup wait in `take`, read only after that wait.
private final class PrefetchSlot: @unchecked Sendable {
    let capacity: Int
    let pixels: UnsafeMutablePointer<Float>
    let labels: UnsafeMutablePointer<Int32>
    var count = 0
    var error: DataError?

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
