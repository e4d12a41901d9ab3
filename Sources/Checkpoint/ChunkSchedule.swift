// Coordination of the worker threads that compress or decompress chunks: chunks are claimed in
// ascending order, compressed frames are placed back to back in that same order (a worker waits
// only for chunks already claimed by running workers, so this cannot deadlock even if the pool runs
// the workers one after another), and the first failure stops everyone.
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
    private var nextPlacement = 0
    private var placementOffset = 0
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

    /// Waits until every earlier chunk is placed, then places `chunk` (`storedBytes` long) right
    /// after them and returns its offset; nil once a worker has failed.
    func place(_ chunk: Int, storedBytes: Int) -> Int? {
        condition.withLock {
            while nextPlacement != chunk && failure == nil { condition.wait() }
            guard failure == nil else { return nil }
            let offset = placementOffset
            placementOffset += storedBytes
            nextPlacement += 1
            condition.broadcast()
            return offset
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
