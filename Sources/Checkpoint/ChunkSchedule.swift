// Coordination of the worker threads that compress or decompress chunks: chunks are claimed in
// ascending order and the first failure stops everyone. Writing also needs ChunkPlacement: stored
// chunks go into the file back to back in chunk order, so a chunk's offset is known only once every
// earlier chunk is encoded. Workers park encoded chunks (with their buffers) and move on; one writer
// thread takes them in order. So a worker preempted in the middle of a chunk (the host is shared)
// stalls the others only once they run out of spare buffers, and one thread writes the file, in
// order: concurrent pwrites into one file contend in the kernel (280 MB in 3.5 MB pieces took
// 0.12-0.14 s of system time from two threads, 0.07-0.08 s from one).
import Foundation

/// Raw memory shared with worker threads, each of which touches only the bytes of its own chunks.
struct SharedBytes: @unchecked Sendable {
    let buffer: UnsafeRawBufferPointer
}

struct SharedMutableBytes: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
}

/// All state is guarded by `condition`, hence @unchecked Sendable.
final class ChunkSchedule: @unchecked Sendable {
    private let condition = NSCondition()
    private let chunkCount: Int
    private var nextClaim = 0
    private var failure: (chunk: Int, error: CheckpointError)?

    init(chunkCount: Int) {
        self.chunkCount = chunkCount
    }

    /// Runs `worker` on up to `threads` threads at once and waits for all; each worker claims
    /// chunks until none are left.
    func run(threads: Int, _ worker: @Sendable () -> Void) {
        let workers = max(1, min(threads, chunkCount))
        if workers == 1 {
            worker()
        } else {
            DispatchQueue.concurrentPerform(iterations: workers) { _ in worker() }
        }
    }

    /// The next chunk to work on, or nil when all are claimed or a worker failed.
    func claim() -> Int? {
        condition.withLock {
            guard failure == nil, nextClaim < chunkCount else { return nil }
            defer { nextClaim += 1 }
            return nextClaim
        }
    }

    func fail(_ chunk: Int, _ error: CheckpointError) {
        condition.withLock {
            if failure.map({ chunk < $0.chunk }) ?? true { failure = (chunk, error) }
            condition.broadcast()
        }
    }

    /// The failure of the lowest-numbered chunk, once all workers are done.
    var firstFailure: CheckpointError? { condition.withLock { failure?.error } }
}

/// Spare output buffers, and encoded chunks waiting for the writer to take them in order.
/// Deadlock-free as long as a worker takes a buffer before it claims a chunk: then the earliest chunk
/// not yet taken is always either unclaimed (the next claim, by a worker holding a buffer), being
/// encoded by a worker holding one, or parked, where the writer takes it.
/// All state is guarded by `condition`, hence @unchecked Sendable.
final class ChunkPlacement<Pending>: @unchecked Sendable {
    private let condition = NSCondition()
    private let chunkCount: Int
    private var spare: [UnsafeMutableRawBufferPointer]
    private let all: [UnsafeMutableRawBufferPointer]
    private var parked: [Int: Pending] = [:]
    private var nextPlacement = 0
    private var cancelled = false

    /// Placement of `chunkCount` chunks with `buffers` spare buffers of `bytes` bytes each, freed on deinit.
    init(chunkCount: Int, buffers: Int, bytes: Int) {
        self.chunkCount = chunkCount
        all = (0..<buffers).map { _ in UnsafeMutableRawBufferPointer.allocate(byteCount: bytes, alignment: 64) }
        spare = all
    }

    deinit { all.forEach { $0.deallocate() } }

    /// A spare buffer, waiting for one if need be; nil once cancelled.
    func takeBuffer() -> UnsafeMutableRawBufferPointer? {
        condition.withLock {
            while spare.isEmpty && !cancelled { condition.wait() }
            return cancelled ? nil : spare.removeLast()
        }
    }

    func giveBack(_ buffer: UnsafeMutableRawBufferPointer) {
        condition.withLock {
            spare.append(buffer)
            condition.broadcast()
        }
    }

    /// Parks encoded `chunk` until the writer takes it.
    func park(_ chunk: Int, _ pending: Pending) {
        condition.withLock {
            parked[chunk] = pending
            condition.broadcast()
        }
    }

    /// For the writer: the next chunk in order, waiting until it is parked; nil once every chunk
    /// has been taken, or after cancel().
    func takeNext() -> (chunk: Int, pending: Pending)? {
        condition.withLock {
            while !cancelled && nextPlacement < chunkCount && parked[nextPlacement] == nil { condition.wait() }
            guard !cancelled, nextPlacement < chunkCount, let pending = parked.removeValue(forKey: nextPlacement) else { return nil }
            defer { nextPlacement += 1 }
            return (nextPlacement, pending)
        }
    }

    /// Wakes every waiting thread with nil, for good.
    func cancel() {
        condition.withLock {
            cancelled = true
            condition.broadcast()
        }
    }
}

/// One value per chunk, set by whichever worker handles the chunk, read after all are done.
final class ChunkResults<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Value?]

    init(count: Int) {
        values = Array(repeating: nil, count: count)
    }

    func set(_ chunk: Int, _ value: Value) {
        lock.withLock { values[chunk] = value }
    }

    /// All values; every chunk must have been set.
    var all: [Value] { lock.withLock { values.map { $0! } } }
}
