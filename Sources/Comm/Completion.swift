// Waiting for a nonblocking MPI operation under a deadline. Open MPI has no asynchronous progress:
// a collective only advances inside MPI calls, so the waiting rank calls MPI_Test in a loop. It
// spins while the transfer could still be running at full speed, then yields the core, then
// sleeps a little between polls (Backoff), so a rank that waits for a slow peer leaves its core to
// compute threads. Past `Communicator.timeout` it prints one diagnostic line and aborts the job.
import CMPI
import Glibc

/// A collective being waited for: what the diagnostics and errors call it.
struct Operation {
    /// The operation in words: "allreduce", "broadcast", "barrier", …
    let name: String
    /// The MPI function that started it, for errors: "MPI_Iallreduce".
    let call: String
    /// Bytes this rank contributes; nil for a barrier.
    let bytes: Int?

    var description: String { bytes.map { "\(name) of \(formatBytes($0))" } ?? name }
}

extension Communicator {
    /// Starts a nonblocking collective with `start` and waits until it completes.
    func collective(_ operation: Operation, _ start: (inout MPI_Request?) -> Int32) throws(MPIError) {
        var request = try begin(operation, start)
        try complete(&request, operation)
    }

    /// Starts a nonblocking collective with `start` and returns its MPI request.
    func begin(_ operation: Operation, _ start: (inout MPI_Request?) -> Int32) throws(MPIError) -> MPI_Request? {
        precondition(!isFinalized, "Comm: \(operation.call) after finalize()")
        var request: MPI_Request? = cmpi_request_null()
        try check(start(&request), operation.call, rank: rank)
        return request
    }

    /// One MPI_Test: true when the operation has completed (the request is then MPI_REQUEST_NULL).
    func test(_ request: inout MPI_Request?, _ operation: Operation) throws(MPIError) -> Bool {
        var done: Int32 = 0
        try check(MPI_Test(&request, &done, cmpi_status_ignore()), "MPI_Test (\(operation.call))", rank: rank)
        return done != 0
    }

    /// Polls `request` until it completes; aborts the job once `timeout` seconds have passed since
    /// `start` (the start of the whole operation when it takes several requests).
    func complete(_ request: inout MPI_Request?, _ operation: Operation, since start: Double? = nil) throws(MPIError) {
        let polling = monotonicSeconds()
        let start = start ?? polling
        var backoff = Backoff(bytes: operation.bytes ?? 0, oversubscribed: isOversubscribed)
        var stopSeen: Double?
        while try !test(&request, operation) {
            let now = monotonicSeconds()
            if let timeout, now - start >= timeout { timedOut(operation, waited: now - start, timeout: timeout) }
            if stopSeen == nil, stopRequested?() == true { stopSeen = now }
            if let stopSeen, now - stopSeen >= stopGrace { stoppedWaiting(operation, waited: now - start) }
            backoff.pause(waited: now - polling)
        }
    }

    private func stoppedWaiting(_ operation: Operation, waited: Double) -> Never {
        Console.err("rank \(rank) (host \(hostName)): asked to stop while \(operation.description) had waited "
                    + "\(formatTenths(waited)) s; another rank has stopped; aborting the job")
        MPI_Abort(cmpi_comm_world(), 4)
        exit(4)
    }

    private func timedOut(_ operation: Operation, waited: Double, timeout: Double) -> Never {
        Console.err("rank \(rank) (host \(hostName)): \(operation.description) waited \(formatTenths(waited)) s "
                    + "(--comm-timeout \(formatNumber(timeout))); another rank has stopped or hung; aborting the job")
        MPI_Abort(cmpi_comm_world(), 3)
        exit(3)
    }
}

/// How a waiting rank spends the time between two MPI_Test calls.
/// - Spin (no pause) for S = 1 ms plus the time the payload takes at 1 GB/s: that covers a whole
///   all-reduce at the speeds measured on one host (2.5-7 GB/s) and over TCP (1.2 GB/s), so the
///   usual case, where every rank arrives together, polls as fast as it can (measured: as fast as
///   a bare MPI_Test loop).
/// - Then sched_yield until 10 S: as fast as spinning on an idle core, but a runnable thread on
///   the same core goes first.
/// - Then sleep between polls, 20 µs doubling to 200 µs: a rank that waits for a slow peer uses
///   ~6% of a core (measured on this VM). The price: once the peer arrives, the transfer advances
///   only at each poll, so it ends later (measured after a 400 ms wait: +0.8 ms for 256 KiB,
///   +11 ms for 4 MiB, +18 ms for 32 MiB), which is small next to the 10 S already waited.
/// - With more ranks on this host than CPUs, yield from the first poll: a spinning rank would
///   hold a CPU that another rank needs to make progress.
struct Backoff {
    private let spinSeconds: Double
    private let yieldSeconds: Double
    private var sleepNanoseconds = 20_000

    init(bytes: Int, oversubscribed: Bool) {
        let s = 0.001 + Double(bytes) / 1e9
        spinSeconds = oversubscribed ? 0 : s
        yieldSeconds = 10 * s
    }

    mutating func pause(waited: Double) {
        if waited < spinSeconds { return }
        if waited < yieldSeconds {
            sched_yield()
            return
        }
        var delay = timespec(tv_sec: 0, tv_nsec: sleepNanoseconds)
        nanosleep(&delay, nil)
        sleepNanoseconds = min(2 * sleepNanoseconds, 200_000)
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
}

/// "0 B", "12 B", "256 KiB", "4 MiB", "1.5 MiB", "2 GiB".
func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return "\(formatNumber(value)) \(units[unit])"
}

/// One decimal: "30.0", "0.5".
func formatTenths(_ x: Double) -> String {
    let tenths = Int((x * 10).rounded())
    return "\(tenths / 10).\(tenths % 10)"
}

/// A whole number without decimals ("30"), anything else with one ("2.5").
func formatNumber(_ x: Double) -> String {
    x == x.rounded() ? "\(Int(x))" : formatTenths(x)
}
