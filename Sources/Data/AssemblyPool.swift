// The decoding threads behind BatchLoader.prefetch: a fixed set of threads that run the chunks of
// queued batches in first-in, first-out order. A batch's DispatchGroup is entered once per chunk
// when it is queued and left as each chunk finishes, so `wait` on it returns when the whole batch
// is assembled. The threads live as long as the loader; `shutdown` drops work not yet started and
// waits for the threads to exit.

import Foundation

final class AssemblyPool: @unchecked Sendable {
    private struct Chunk {
        let job: BatchJob
        let index: Int
        let done: DispatchGroup
    }

    private let condition = NSCondition()
    private var chunks: [Chunk] = []
    private var next = 0
    private var stopping = false
    private var running: Int

    init(threads: Int) {
        running = threads
        for n in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "wavemix.data.\(n)"
            thread.start()
        }
    }

    /// Queues every chunk of `job`; `done` is left once per chunk as it finishes.
    func submit(_ job: BatchJob, done: DispatchGroup) {
        condition.lock()
        for index in 0..<job.chunks {
            done.enter()
            chunks.append(Chunk(job: job, index: index, done: done))
        }
        condition.broadcast()
        condition.unlock()
    }

    func shutdown() {
        condition.lock()
        stopping = true
        for chunk in chunks[next...] { chunk.done.leave() }
        chunks.removeAll()
        next = 0
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func work() {
        condition.lock()
        while true {
            while next == chunks.count && !stopping { condition.wait() }
            if stopping {
                running -= 1
                condition.broadcast()
                condition.unlock()
                return
            }
            let chunk = chunks[next]
            next += 1
            if next == chunks.count {  // all taken: start the list afresh
                chunks.removeAll(keepingCapacity: true)
                next = 0
            }
            condition.unlock()
            chunk.job.run(chunk: chunk.index)
            chunk.done.leave()
            condition.lock()
        }
    }
}
