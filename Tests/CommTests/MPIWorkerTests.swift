// Worker tests: every Comm collective on however many ranks the launcher test started (2 with the
// launcher script, 4 oversubscribed with Open MPI defaults, 1 as a singleton without mpirun).
// Every rank runs the same tests in the same order; results are compared exactly.
import Comm
import Foundation
import XCTest

final class MPIWorkerTests: XCTestCase {
    override class func tearDown() {
        Worker.finish()
        super.tearDown()
    }

    func testIdentity() throws {
        let comm = try Worker.communicator()
        let environment = ProcessInfo.processInfo.environment
        let underMPIRun = environment["OMPI_COMM_WORLD_SIZE"] != nil
        XCTAssertEqual(comm.size, Worker.environmentInt("WAVEMIX_EXPECT_SIZE") ?? comm.size)
        // mpirun tells every rank who it is; a singleton is rank 0 of 1.
        func expected(_ name: String, alone: Int) -> Int? { underMPIRun ? Worker.environmentInt(name) : alone }
        XCTAssertEqual(comm.size, expected("OMPI_COMM_WORLD_SIZE", alone: 1))
        XCTAssertEqual(comm.rank, expected("OMPI_COMM_WORLD_RANK", alone: 0))
        XCTAssertEqual(comm.localRank, expected("OMPI_COMM_WORLD_LOCAL_RANK", alone: 0))
        XCTAssertEqual(comm.localSize, expected("OMPI_COMM_WORLD_LOCAL_SIZE", alone: 1))
        XCTAssertFalse(comm.hostName.isEmpty)
        XCTAssertGreaterThanOrEqual(comm.threadSupport.rawValue, Communicator.ThreadSupport.funneled.rawValue)
        XCTAssertTrue(try Communicator.initialize() === comm, "initialize() returns the one communicator")
        Console.out("comm-identity rank \(comm.rank) of \(comm.size), local \(comm.localRank) of \(comm.localSize), host \(comm.hostName), \(comm.threadSupport)")
    }

    /// Sizes in elements: empty, one, odd, 4 MiB of the element type (one scratch piece of an
    /// in-place sum), and 9 MiB + 1 element (two pieces and a remainder).
    private func sizes<T>(_ type: T.Type) -> [Int] {
        [0, 1, 7, 1001, (4 << 20) / MemoryLayout<T>.stride, (9 << 20) / MemoryLayout<T>.stride + 1]
    }

    func testAllreduceSumFloat() throws {
        let comm = try Worker.communicator()
        let n = comm.size
        for count in sizes(Float.self) {
            // Small integers and halves: every partial sum is exact, so the result is exact in any order.
            let mine = (0..<count).map { Float($0 % 1000) + Float(comm.rank) * 0.5 }
            let want = (0..<count).map { Float(n * ($0 % 1000)) + Float(n * (n - 1)) * 0.25 }
            var inPlace = mine
            try inPlace.withUnsafeMutableBufferPointer { b in try comm.allreduceSum(b) }
            assertExact(inPlace, want, "Float in place, \(count) elements")
            var received = [Float](repeating: -1, count: count)
            try mine.withUnsafeBufferPointer { s in
                try received.withUnsafeMutableBufferPointer { r in try comm.allreduceSum(send: s, receive: r) }
            }
            assertExact(received, want, "Float send/receive, \(count) elements")
        }
    }

    func testAllreduceSumDouble() throws {
        let comm = try Worker.communicator()
        let n = comm.size
        for count in sizes(Double.self) {
            let mine = (0..<count).map { Double($0) + Double(comm.rank) * 0.25 }
            let want = (0..<count).map { Double(n * $0) + Double(n * (n - 1)) * 0.125 }
            var inPlace = mine
            try inPlace.withUnsafeMutableBufferPointer { b in try comm.allreduceSum(b) }
            assertExact(inPlace, want, "Double in place, \(count) elements")
            var received = [Double](repeating: -1, count: count)
            try mine.withUnsafeBufferPointer { s in
                try received.withUnsafeMutableBufferPointer { r in try comm.allreduceSum(send: s, receive: r) }
            }
            assertExact(received, want, "Double send/receive, \(count) elements")
        }
    }

    func testAllreduceSumInt64() throws {
        let comm = try Worker.communicator()
        let n = Int64(comm.size)
        for count in sizes(Int64.self) {
            // Values above 2^53: a trip through Double would lose the low bits.
            let mine = (0..<count).map { Int64($0) << 32 + Int64(comm.rank + 1) << 55 + 1 }
            let want = (0..<count).map { n * (Int64($0) << 32) + (n * (n + 1) / 2) << 55 + n }
            var inPlace = mine
            try inPlace.withUnsafeMutableBufferPointer { b in try comm.allreduceSum(b) }
            assertExact(inPlace, want, "Int64 in place, \(count) elements")
        }
    }

    func testIallreduceProgressedByTestWhileComputing() throws {
        let comm = try Worker.communicator()
        let count = (4 << 20) / 4, n = comm.size
        let send = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        let receive = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { send.deallocate(); receive.deallocate() }
        for i in 0..<count { send[i] = Float(i % 512) + Float(comm.rank) }
        receive.initialize(repeating: -1)

        let request = try comm.iallreduceSum(send: UnsafeBufferPointer(send), receive: receive)
        var polls = 0
        var work = [Float](repeating: 1, count: 1 << 16)
        while try !request.test() {
            // A piece of "backward": the all-reduce advances only inside test().
            for i in work.indices { work[i] = work[i] * 0.999 + 0.001 }
            polls += 1
            XCTAssertLessThan(polls, 10_000_000, "iallreduce never completed")
        }
        XCTAssertTrue(try request.test(), "a completed request stays complete")
        try request.wait()
        let want = (0..<count).map { Float(n * ($0 % 512)) + Float(n * (n - 1) / 2) }
        assertExact(Array(receive), want, "iallreduce Float")
        Console.out("comm-iallreduce rank \(comm.rank): 4 MiB completed after \(polls) compute pieces")

        // A request dropped unfinished waits in its deinit: the result is final right after.
        receive.initialize(repeating: -1)
        _ = try comm.iallreduceSum(send: UnsafeBufferPointer(send), receive: receive)
        assertExact(Array(receive), want, "iallreduce Float, request dropped")

        // The same through wait() alone, for Double.
        let doubles = (0..<1001).map { Double($0) * Double(comm.rank + 1) }
        let sendD = UnsafeMutableBufferPointer<Double>.allocate(capacity: doubles.count)
        let receiveD = UnsafeMutableBufferPointer<Double>.allocate(capacity: doubles.count)
        defer { sendD.deallocate(); receiveD.deallocate() }
        _ = sendD.initialize(from: doubles)
        try comm.iallreduceSum(send: UnsafeBufferPointer(sendD), receive: receiveD).wait()
        assertExact(Array(receiveD), (0..<1001).map { Double($0) * Double(n * (n + 1) / 2) }, "iallreduce Double")
    }

    func testBroadcast() throws {
        let comm = try Worker.communicator()
        let last = comm.size - 1

        var raw = [UInt8](repeating: comm.rank == last ? 0 : 9, count: 1000)
        if comm.rank == last { for i in raw.indices { raw[i] = UInt8((i * 7 + last) & 255) } }
        try raw.withUnsafeMutableBufferPointer { b in try comm.broadcast(UnsafeMutableRawBufferPointer(b), root: last) }
        assertExact(raw, (0..<1000).map { UInt8(($0 * 7 + last) & 255) }, "raw bytes from rank \(last)")

        var floats = comm.rank == 0 ? (0..<4097).map { Float($0) * 0.5 } : [Float](repeating: 0, count: 4097)
        try floats.withUnsafeMutableBufferPointer { b in try comm.broadcast(b, root: 0) }
        assertExact(floats, (0..<4097).map { Float($0) * 0.5 }, "Float buffer")
        var doubles = [Double](repeating: comm.rank == 0 ? .pi : 0, count: 3)
        try doubles.withUnsafeMutableBufferPointer { b in try comm.broadcast(b, root: 0) }
        assertExact(doubles, [.pi, .pi, .pi], "Double buffer")
        var ints = [Int64(comm.rank == last ? Int64.min : 0), comm.rank == last ? Int64.max : 0]
        try ints.withUnsafeMutableBufferPointer { b in try comm.broadcast(b, root: last) }
        assertExact(ints, [Int64.min, Int64.max], "Int64 buffer")

        // Variable length: only the root's length matters.
        let message = Array("hello from rank 0 of \(comm.size)".utf8) + [UInt8](repeating: 42, count: 100_000)
        let got = try comm.broadcast(comm.rank == 0 ? message : [1, 2, 3], root: 0)
        assertExact(got, message, "variable-length bytes")
        XCTAssertEqual(try comm.broadcast(comm.rank == last ? [] : [7], root: last), [], "empty bytes")
    }

    func testScalarSumMaxMin() throws {
        let comm = try Worker.communicator()
        let n = comm.size, r = comm.rank
        XCTAssertEqual(try comm.allreduceMax(Double(r) * 1.5), Double(n - 1) * 1.5)
        XCTAssertEqual(try comm.allreduceMin(Double(r) * 1.5 - 2), -2)
        XCTAssertEqual(try comm.allreduceMax(Int64(r) - 5), Int64(n - 1) - 5)
        XCTAssertEqual(try comm.allreduceMin(Int64(r) << 40), 0)
        XCTAssertEqual(try comm.allreduceMax(-r), 0)
        XCTAssertEqual(try comm.allreduceMin(-r), -(n - 1))
        XCTAssertEqual(try comm.allreduceSum(Double(r) + 0.5), Double(n * (n - 1) / 2) + 0.5 * Double(n))
        XCTAssertEqual(try comm.allreduceSum(Int64(r + 1) << 50), Int64(n * (n + 1) / 2) << 50)
        XCTAssertEqual(try comm.allreduceSum(r + 1), n * (n + 1) / 2)
    }

    func testBarrierHoldsEveryRankUntilTheLastArrives() throws {
        let comm = try Worker.communicator()
        try comm.barrier()
        let start = Date()
        if comm.rank == 0 { Thread.sleep(forTimeInterval: 0.3) }
        try comm.barrier()
        let waited = Date().timeIntervalSince(start)
        XCTAssertGreaterThanOrEqual(waited, comm.size > 1 ? 0.25 : 0, "rank \(comm.rank) left the barrier before rank 0 entered it")
    }

    func testGatherAndAllgatherOfDifferentLengths() throws {
        let comm = try Worker.communicator()
        let mine = (0...comm.rank).map { Int64(comm.rank * 100 + $0) }
        let everyone = (0..<comm.size).map { q in (0...q).map { Int64(q * 100 + $0) } }
        XCTAssertEqual(try comm.allgather(mine), everyone)
        XCTAssertEqual(try comm.allgather(mine.map { Double($0) / 4 }), everyone.map { $0.map { Double($0) / 4 } })
        let last = comm.size - 1
        XCTAssertEqual(try comm.gather(mine, root: last), comm.rank == last ? everyone : [])
        XCTAssertEqual(try comm.gather([Double(comm.rank)], root: 0), comm.rank == 0 ? (0..<comm.size).map { [Double($0)] } : [])
        XCTAssertEqual(try comm.allgather([Int64]()), [[Int64]](repeating: [], count: comm.size))
    }

    func testErrorsAreTypedAndNameTheCall() throws {
        let comm = try Worker.communicator()
        // Refused by Comm before MPI is called: more elements than MPI's Int32 count.
        let one = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        defer { one.deallocate() }
        let huge = UnsafeMutableBufferPointer(start: one, count: Int(Int32.max) + 1)
        XCTAssertThrowsError(try comm.allreduceSum(send: UnsafeBufferPointer(huge), receive: huge)) { error in
            let e = error as? MPIError
            XCTAssertEqual(e?.call, "MPI_Iallreduce")
            XCTAssertEqual(e?.description, "rank \(comm.rank): MPI_Iallreduce failed: 2147483648 elements exceed MPI's count limit of 2147483647; split the buffer")
        }
        // Refused by MPI's argument check on every rank alike: the same buffer as send and receive.
        let two = UnsafeMutableBufferPointer<Float>.allocate(capacity: 2)
        defer { two.deallocate() }
        two.initialize(repeating: 1)
        XCTAssertThrowsError(try comm.allreduceSum(send: UnsafeBufferPointer(two), receive: two)) { error in
            let e = error as? MPIError
            XCTAssertEqual(e?.call, "MPI_Iallreduce")
            XCTAssertEqual(e?.rank, comm.rank)
            XCTAssertTrue(e?.message.hasPrefix("MPI_ERR_") ?? false, "MPI's own error string: \(error)")
            XCTAssertFalse(e?.description.contains("\n") ?? true)
        }
        // The communicator still works afterwards.
        XCTAssertEqual(try comm.allreduceSum(1), comm.size)
    }
}

/// Exact comparison of long arrays: reports the first mismatch instead of printing both arrays.
func assertExact<T: Equatable>(_ got: [T], _ want: [T], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    guard got.count == want.count else {
        return XCTFail("\(what): \(got.count) elements, expected \(want.count)", file: file, line: line)
    }
    if let i = got.indices.first(where: { got[$0] != want[$0] }) {
        XCTFail("\(what): element \(i) is \(got[i]), expected \(want[i])", file: file, line: line)
    }
}
