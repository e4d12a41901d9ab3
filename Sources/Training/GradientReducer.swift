// Data-parallel gradient averaging. The flat gradient buffer is cut into buckets of a few MiB at
// parameter boundaries (see init); backward finishes gradients from the end of the buffer towards the start,
// so as soon as the model reports that everything above an offset is final, the buckets above it
// start their MPI_Iallreduce, and every report also calls MPI_Test on the buckets in flight (Open
// MPI makes no progress on its own). `finish` waits for the rest and divides by the world size.
// Gradients are sent from the gradient buffer itself into a separate receive buffer: an in-place
// nonblocking all-reduce stalls inside the call in Open MPI 4.1, which defeats the overlap.
import Comm
import Dispatch
import Kernels
import WaveMix

final class GradientReducer {
    private let comm: Communicator
    private let gradients: UnsafeMutableBufferPointer<Float>
    private let received: UnsafeMutableBufferPointer<Float>
    /// Bucket ranges, last one first (the order they become final).
    private let buckets: [Range<Int>]
    private var next = 0
    private var inFlight: [Request] = []
    /// Seconds spent in `finish` waiting for all-reduces that backward did not hide.
    private(set) var waitSeconds = 0.0

    init(comm: Communicator, model: WaveMixModel, bucketBytes: Int) {
        self.comm = comm
        gradients = model.gradients
        received = .allocate(capacity: model.parameterCount)
        received.initialize(repeating: 0)
        // Cut at parameter boundaries from the stem on: the first bucket is small (up to 1 MiB)
        // because it becomes final last and its all-reduce cannot hide behind backward; the
        // others hold about `bucketBytes`.
        let bucketFloats = max(1, bucketBytes / MemoryLayout<Float>.size)
        var cuts: [Int] = []
        var start = 0
        for entry in model.parameterTable.entries {
            let end = entry.offset + entry.count
            if end - start >= (cuts.isEmpty ? min(bucketFloats, 1 << 18) : bucketFloats) {
                cuts.append(end)
                start = end
            }
        }
        if start < model.parameterCount { cuts.append(model.parameterCount) }
        buckets = zip([0] + cuts.dropLast(), cuts).map { $0..<$1 }.reversed()
    }

    deinit { received.deallocate() }

    var bucketCount: Int { buckets.count }

    /// Called by the model during backward: gradients at `offset` and above are final.
    func gradientsReady(from offset: Int) throws {
        while next < buckets.count && buckets[next].lowerBound >= offset {
            let range = buckets[next]
            inFlight.append(try comm.iallreduceSum(send: UnsafeBufferPointer(rebasing: gradients[range]),
                                                   receive: UnsafeMutableBufferPointer(rebasing: received[range])))
            next += 1
        }
        for request in inFlight { _ = try request.test() }
    }

    /// Completes every bucket and leaves the average over ranks in the gradient buffer.
    func finish() throws {
        precondition(next == buckets.count, "backward did not report all gradients final")
        let start = DispatchTime.now().uptimeNanoseconds
        for request in inFlight { try request.wait() }
        waitSeconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        inFlight.removeAll(keepingCapacity: true)
        next = 0
        let scale = 1 / Float(comm.size)
        let g = UnsafeSendable(gradients.baseAddress!), r = UnsafeSendable(received.baseAddress!)
        Parallel.forRange(gradients.count, minPerThread: 65_536) { lo, hi in
            for i in lo..<hi { g.value[i] = r.value[i] * scale }
        }
    }
}
