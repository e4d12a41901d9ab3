// Coordination of the worker threads that compress or decompress chunks: chunks are claimed in
// ascending order and the first failure stops everyone. Writers also need ChunkPlacement: stored
// chunks go into the file back to back in chunk order, so a chunk's offset is known only once every
// earlier chunk is encoded; a worker that finishes a chunk early parks it (with its buffer) and
// moves on to the next, so one worker preempted in the middle of a chunk (the host is shared) does
// not stall the others until they run out of spare buffers. One worker at a time writes parked
// chunks, in order.
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

/// Spare output buffers and encoded chunks waiting for their place. Deadlock-free as long as a worker
/// takes a buffer before it claims a chunk: then the earliest chunk not yet placed is always either
/// unclaimed (the next claim, by a worker holding a buffer) or being encoded by a worker holding one.
/// All state is guarded by `condition`, hence @unchecked Sendable.
final class ChunkPlacement<Pending>: @unchecked Sendable {
    private let condition = NSCondition()
    private var spare: [UnsafeMutableRawBufferPointer]
    private let all: [UnsafeMutableRawBufferPointer]
    private var parked: [Int: (pending: Pending, storedBytes: Int)] = [:]
    private var nextPlacement = 0
    private var placementOffset = 0
    private var writing = false
    private var cancelled = false

    /// `buffers` spare buffers of `bytes` bytes each, freed on deinit.
    init(buffers: Int, bytes: Int) {
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
            condition.signal()
        }
    }

    /// Parks encoded `chunk` (`storedBytes` long) until it is its turn to be placed. Returns true
    /// if the caller is now the writer, who must call placeNext() until it returns nil: one thread
    /// writes at a time, in file order (concurrent pwrites to one file contend in the kernel: writing
    /// 280 MB in 3.5 MB pieces took 0.12-0.14 s of system time from two threads, 0.07-0.08 s from one).
    func park(_ chunk: Int, _ pending: Pending, storedBytes: Int) -> Bool {
        condition.withLock {
            parked[chunk] = (pending, storedBytes)
            if writing { return false }
            writing = true
            return true
        }
    }

    /// For the writer: the next chunk in order if it is parked, with its offset from the start of
    /// the section area (right after the chunk before it); nil, ending the caller's turn as the
    /// writer, if it is not encoded yet or after cancel().
    func placeNext() -> (chunk: Int, offset: Int, pending: Pending)? {
        condition.withLock {
            guard !cancelled, let next = parked.removeValue(forKey: nextPlacement) else {
                writing = false
                return nil
            }
            defer {
                nextPlacement += 1
                placementOffset += next.storedBytes
            }
            return (nextPlacement, placementOffset, next.pending)
        }
    }

    /// Wakes every waiting worker with nil, for good.
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
