// Communicator: MPI start-up and shut-down for the process, the rank's identity in MPI_COMM_WORLD
// (world rank and size, rank and size on this host, host name) and job-wide abort. The collectives
// live in extensions (Allreduce.swift, Broadcast.swift, Gather.swift, Barrier.swift); every one of
// them runs as its nonblocking MPI-3 twin and waits through `complete` (Completion.swift), which
// enforces `timeout`.
//
// Threading: MPI is initialised with MPI_THREAD_FUNNELED, so call Comm from the thread that called
// `initialize()` (the main thread); compute threads must not call it.
import CMPI
import Glibc

public final class Communicator: @unchecked Sendable {
    /// The thread support level MPI provided (MPI_THREAD_*); FUNNELED or better is required.
    public enum ThreadSupport: Int32, CustomStringConvertible, Sendable {
        case single, funneled, serialized, multiple
        public var description: String {
            switch self {
            case .single: "MPI_THREAD_SINGLE"
            case .funneled: "MPI_THREAD_FUNNELED"
            case .serialized: "MPI_THREAD_SERIALIZED"
            case .multiple: "MPI_THREAD_MULTIPLE"
            }
        }
    }

    /// Rank in MPI_COMM_WORLD, 0..<size.
    public let rank: Int
    /// Number of ranks in MPI_COMM_WORLD (1 when run without mpirun).
    public let size: Int
    /// Rank among the ranks on this host (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED).
    public let localRank: Int
    /// Number of ranks on this host.
    public let localSize: Int
    /// This host's name as MPI reports it (MPI_Get_processor_name).
    public let hostName: String
    /// What MPI_Init_thread provided.
    public let threadSupport: ThreadSupport
    /// More ranks on this host than online CPUs: waiting ranks yield at once (Completion.swift).
    public let isOversubscribed: Bool
    /// Seconds any blocking collective (and `Request.wait`) may wait before it aborts the whole job
    /// with a diagnostic; nil waits forever. Maps to the CLI's `--comm-timeout`.
    public var timeout: Double? {
        didSet { precondition(timeout.map { $0 > 0 && $0.isFinite } ?? true, "Comm: timeout must be positive, got \(timeout!)") }
    }
    /// Says whether the process was asked to stop (e.g. it got SIGTERM). A rank that waits in a
    /// collective for `stopGrace` seconds after that aborts the job instead of waiting on: the
    /// peer it waits for has most likely died, and the stop would otherwise never be honoured.
    public var stopRequested: (@Sendable () -> Bool)?
    public var stopGrace: Double = 10
    /// True once `finalize()` ran; no MPI call may follow.
    public private(set) var isFinalized = false
    /// The send side of in-place all-reduces (Allreduce.swift), allocated on first use.
    var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    nonisolated(unsafe) private static var shared: Communicator?

    /// Initialises MPI once per process and returns the process's communicator; later calls return
    /// the same one. Without mpirun this is a singleton run: rank 0 of size 1. MPI errors on
    /// MPI_COMM_WORLD are returned (MPI_ERRORS_RETURN) and thrown as MPIError.
    public static func initialize() throws(MPIError) -> Communicator {
        if let shared {
            if shared.isFinalized {
                throw MPIError(call: "MPI_Init_thread", code: MPI_ERR_OTHER,
                               message: "MPI was finalized in this process and cannot be initialised again", rank: shared.rank)
            }
            return shared
        }
        let communicator = try Communicator()
        shared = communicator
        return communicator
    }

    private init() throws(MPIError) {
        var provided: Int32 = 0
        try check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread", rank: -1)
        let world = cmpi_comm_world()
        try check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler", rank: -1)
        var worldRank: Int32 = 0, worldSize: Int32 = 0
        try check(MPI_Comm_rank(world, &worldRank), "MPI_Comm_rank", rank: -1)
        try check(MPI_Comm_size(world, &worldSize), "MPI_Comm_size", rank: -1)
        let me = Int(worldRank)

        var host: MPI_Comm? = nil
        try check(MPI_Comm_split_type(world, cmpi_comm_type_shared(), worldRank, cmpi_info_null(), &host),
                  "MPI_Comm_split_type", rank: me)
        var hostRank: Int32 = 0, hostSize: Int32 = 0
        try check(MPI_Comm_rank(host, &hostRank), "MPI_Comm_rank", rank: me)
        try check(MPI_Comm_size(host, &hostSize), "MPI_Comm_size", rank: me)
        try check(MPI_Comm_free(&host), "MPI_Comm_free", rank: me)

        var name = [CChar](repeating: 0, count: Int(MPI_MAX_PROCESSOR_NAME) + 1)
        var nameLength: Int32 = 0
        try check(MPI_Get_processor_name(&name, &nameLength), "MPI_Get_processor_name", rank: me)

        rank = me
        size = Int(worldSize)
        localRank = Int(hostRank)
        localSize = Int(hostSize)
        hostName = String(decoding: name.prefix(Int(nameLength)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        threadSupport = ThreadSupport(rawValue: provided) ?? .single
        isOversubscribed = localSize > sysconf(Int32(_SC_NPROCESSORS_ONLN))
        guard threadSupport.rawValue >= ThreadSupport.funneled.rawValue else {
            throw MPIError(call: "MPI_Init_thread", code: MPI_ERR_OTHER,
                           message: "MPI provides only \(threadSupport); MPI_THREAD_FUNNELED is required", rank: me)
        }
    }

    /// Shuts MPI down (MPI_Finalize). Every rank must call it before exiting normally, or mpirun
    /// reports an abnormal termination and exits non-zero. A second call does nothing.
    public func finalize() {
        guard !isFinalized else { return }
        isFinalized = true
        MPI_Finalize()
    }

    /// Prints "rank R: message" to standard error and ends the whole job (MPI_Abort on
    /// MPI_COMM_WORLD); mpirun then exits with `code`.
    public func abort(code: Int32, message: String) -> Never {
        Console.err("rank \(rank): \(message)")
        if !isFinalized { MPI_Abort(cmpi_comm_world(), code) }
        exit(code)
    }
}
