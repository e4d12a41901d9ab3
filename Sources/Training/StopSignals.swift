// Graceful stops: SIGTERM, SIGINT and SIGUSR1 (Slurm's early warning, forwarded by mpirun) ask the
// trainer to finish its step, write a checkpoint and exit 0. A second SIGINT (Ctrl-C twice) ends
// the process at once; a second SIGTERM does not: Slurm sends SIGTERM twice, 10 ms apart, when it
// preempts a job (measured with Slurm 22.05, srun and mpirun ranks alike), and SIGKILL is what ends
// a stop that takes too long. The handler only stores the signal number; the training loop polls it.
import Glibc

public enum StopSignals {
    nonisolated(unsafe) private static var received: Int32 = 0

    /// The first stop signal received, 0 if none.
    public static var pending: Int32 { received }

    public static func install() {
        for signo in [SIGTERM, SIGINT, SIGUSR1] {
            signal(signo) { signo in
                if StopSignals.received != 0 && signo == SIGINT { _exit(128 + signo) }
                StopSignals.received = signo
            }
        }
    }

    public static func name(_ signo: Int32) -> String {
        switch signo {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGUSR1: "SIGUSR1"
        default: "signal \(signo)"
        }
    }
}
