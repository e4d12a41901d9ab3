// The local Slurm test: a real Slurm 22.05 cluster on this machine (munged, slurmctld and two slurmd
// nodes, started by cluster/slurm/local-cluster.sh with its own configuration, state and munge
// socket; stopped by PID after the last test, or by its watchdog if this process dies first) runs
// cluster/slurm/wavemix.sbatch, and every interrupted run must end bitwise equal to the
// uninterrupted one:
//   - the script trains a small model on 2 ranks (mpirun) and evaluates; `eval` runs through srun;
//   - scancel in the middle: the ranks checkpoint before the SIGKILL (a save made to take 3 s, longer
//     than mpirun's own 2 s kill would allow), and the resubmitted job continues;
//   - real preemption (a job in a higher-priority partition; PreemptMode=REQUEUE): srun ranks get
//     SIGTERM twice, checkpoint anyway, and Slurm's requeued job continues;
//   - the time-limit warning (SIGUSR1 to the batch shell, as --signal=B:USR1@N delivers it): the
//     ranks checkpoint and stop, and the script requeues the job, which continues;
//   - two slurmd nodes: `sbatch -N 2` runs the mpirun path across both;
//   - a rank killed with SIGKILL under --max-restarts 1 is restarted from the newest checkpoint.
// Skipped, saying why, without root or without Slurm (scripts/test.sh installs it as root).
import Checkpoint
import Foundation
import TestSupport
import XCTest

final class SlurmTests: XCTestCase {
    private var cluster: LocalSlurm!

    override func setUpWithError() throws {
        cluster = try LocalSlurm.shared()
    }

    override class func tearDown() {
        LocalSlurm.shutDown()
        super.tearDown()
    }

    func testBatchScriptTrainsOnTwoRanksAndEvaluates() throws {
        let reference = try cluster.reference()
        let log = reference.log
        XCTAssertEqual(reference.info["JobState"], "COMPLETED", log)
        XCTAssertEqual(reference.info["ExitCode"], "0:0", log)
        let steps = LocalSlurm.steps
        for expected in ["launcher mpirun", "1 node(s), 2 rank(s) x 1 thread(s)", "--resume auto", "no checkpoint in",
                         "2 rank(s) x 1 thread(s), global batch 16", "eval after epoch 1 (step \(steps))", "done: \(steps) steps"] {
            XCTAssertTrue(log.contains(expected), "the job log lacks '\(expected)':\n\(log)")
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(reference.runDirectory)/model.safetensors"))

        let checkpoint = String(format: "step-%08d.wmx", steps)
        let eval = try cluster.submit(["-n", "2"], ["--launcher", "srun", "eval", "--checkpoint",
                                                   "\(reference.runDirectory)/checkpoints/\(checkpoint)"])
        let info = try cluster.waitUntilGone(eval)
        let evalLog = cluster.log(of: eval)
        XCTAssertEqual(info["JobState"], "COMPLETED", evalLog)
        XCTAssertTrue(evalLog.contains("launcher srun") && evalLog.contains("\(checkpoint): top-1 ")
                      && evalLog.contains("on 500 images"), evalLog)
    }

    func testCancelledJobCheckpointsAndTheResubmittedJobEndsBitwiseEqual() throws {
        let reference = try cluster.reference()
        let run = cluster.runDirectory("cancelled")
        // Every save sleeps 3 s halfway: a large model's checkpoint. mpirun alone would SIGKILL the
        // ranks 2 s after the SIGTERM; the script's kill grace must let the save finish.
        let job = try cluster.submit([], cluster.train(run),
                                     environment: TrainingRuns.paced.merging([CheckpointWriter.pauseEnvironmentVariable: "3"]) { $1 })
        try cluster.waitForStep(100, of: job, in: run)
        let cancelled = Date()
        try cluster.slurm("scancel", [job.id])
        let info = try cluster.waitUntilGone(job)
        let log = cluster.log(of: job)
        XCTAssertEqual(info["JobState"], "CANCELLED", log)
        XCTAssertTrue(log.contains("wavemix.sbatch: SIGTERM"), log)

        let step = try assertStopCheckpoint(in: run, writtenAfter: cancelled, log: log)
        print("scancel: job \(job.id) checkpointed step \(step), gone \(seconds(since: cancelled)) after the scancel")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(run)/model.safetensors"))

        let again = try cluster.submit([], cluster.train(run))
        let infoAgain = try cluster.waitUntilGone(again)
        let logAgain = cluster.log(of: again)
        XCTAssertEqual(infoAgain["JobState"], "COMPLETED", logAgain)
        XCTAssertTrue(logAgain.contains("resuming at step \(step) "), logAgain)
        assertBitwiseEqual(run, reference.runDirectory)
    }

    func testPreemptedJobIsRequeuedAndEndsBitwiseEqual() throws {
        let reference = try cluster.reference()
        let run = cluster.runDirectory("preempted")
        let job = try cluster.submit([], ["--launcher", "srun"] + cluster.train(run),
                                     environment: TrainingRuns.paced.merging([CheckpointWriter.pauseEnvironmentVariable: "3"]) { $1 })
        try cluster.waitForStep(100, of: job, in: run)
        let preempted = Date()
        // A job of the higher-priority partition that needs this job's node: Slurm preempts
        // (SIGTERM twice, then SIGKILL after KillWait) and requeues it.
        let node = try cluster.slurm("squeue", ["-h", "-j", job.id, "-o", "%N"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let urgent = try cluster.submit(["-p", "urgent", "-w", node, "-n", "2"], wrap: "echo urgent job on $SLURMD_NODENAME")
        XCTAssertEqual(try cluster.waitUntilGone(urgent)["JobState"], "COMPLETED", cluster.log(of: urgent))
        let info = try cluster.waitUntilGone(job)
        let log = cluster.log(of: job)
        XCTAssertEqual(info["JobState"], "COMPLETED", log)
        XCTAssertEqual(info["Restarts"], "1", log)
        XCTAssertTrue(log.contains("DUE TO PREEMPTION"), log)
        let step = try assertStopCheckpoint(in: run, writtenAfter: preempted, log: log)
        print("preemption: job \(job.id) checkpointed step \(step), done \(seconds(since: preempted)) after the preempting job")
        for expected in ["stopped at step \(step) (SIGTERM)", "(restart 1)", "resuming at step \(step) "] {
            XCTAssertTrue(log.contains(expected), "the job log lacks '\(expected)':\n\(log)")
        }
        assertBitwiseEqual(run, reference.runDirectory)
    }

    func testTimeLimitWarningCheckpointsAndRequeues() throws {
        let reference = try cluster.reference()
        let run = cluster.runDirectory("warned")
        let job = try cluster.submit([], cluster.train(run), environment: TrainingRuns.paced)
        try cluster.waitForStep(100, of: job, in: run)
        // What #SBATCH --signal=B:USR1@N delivers N seconds before the time limit (a real limit is at
        // least a minute away: too long for this test).
        let warned = Date()
        try cluster.slurm("scancel", ["--batch", "--signal=USR1", job.id])
        let info = try cluster.waitUntilGone(job)
        let log = cluster.log(of: job)
        XCTAssertEqual(info["JobState"], "COMPLETED", log)
        XCTAssertEqual(info["Restarts"], "1", log)
        let step = try XCTUnwrap(firstNumber(after: "stopped at step ", in: log), log)
        print("time-limit warning: job \(job.id) stopped at step \(step), done \(seconds(since: warned)) after the warning")
        for expected in ["SIGUSR1 (time-limit warning)", "stopped at step \(step) (SIGUSR1)", "requeueing job \(job.id)",
                         "(restart 1)", "resuming at step \(step) "] {
            XCTAssertTrue(log.contains(expected), "the job log lacks '\(expected)':\n\(log)")
        }
        assertBitwiseEqual(run, reference.runDirectory)
    }

    func testTwoNodesRunTheMPIRunPath() throws {
        let reference = try cluster.reference()
        let run = cluster.runDirectory("two-nodes")
        let job = try cluster.submit(["-N", "2", "--ntasks-per-node=1"], cluster.train(run))
        let info = try cluster.waitUntilGone(job)
        let log = cluster.log(of: job)
        XCTAssertEqual(info["JobState"], "COMPLETED", log)
        XCTAssertEqual(info["NodeList"], "n[1-2]", log)
        XCTAssertTrue(log.contains("on n[1-2]: 2 node(s), 2 rank(s) x 1 thread(s), launcher mpirun"), log)
        // mpirun started its daemon on the second node through Slurm (srun), which logged the step.
        let n2 = (try? String(contentsOfFile: "\(cluster.directory)/log/slurmd-n2.log", encoding: .utf8)) ?? ""
        XCTAssertTrue(n2.contains("launch task StepId=\(job.id)."), "slurmd n2 launched nothing of job \(job.id):\n\(n2)")
        // Two ranks sum the same two gradients over TCP as over shared memory: the same bits.
        assertBitwiseEqual(run, reference.runDirectory)
    }

    func testKilledRankIsRestartedInTheAllocation() throws {
        let reference = try cluster.reference()
        let run = cluster.runDirectory("restarted")
        // --kill-grace 2: mpirun ends the surviving rank 4 s after the failure, not 2 x KillWait.
        let job = try cluster.submit([], ["--max-restarts", "1", "--kill-grace", "2"] + cluster.train(run) + ["--checkpoint-every", "100"],
                                     environment: TrainingRuns.paced)
        try cluster.waitForStep(250, of: job, in: run)
        let ranks = Programs.processes(named: "wavemix", withArgument: run)
        XCTAssertEqual(ranks.count, 2, "the ranks of \(run)")
        let victim = try XCTUnwrap(ranks.last)
        kill(victim, SIGKILL)
        let killed = Date()
        let info = try cluster.waitUntilGone(job)
        let log = cluster.log(of: job)
        XCTAssertEqual(info["JobState"], "COMPLETED", log)
        XCTAssertEqual(info["Restarts"], "0", "restarted within the allocation, not requeued: \(log)")
        XCTAssertTrue(log.contains("exited on signal 9"), log)
        XCTAssertTrue(log.contains("wavemix-mpirun: restart 1/1 after exit status "), log)
        let step = try XCTUnwrap(firstNumber(after: "resuming at step ", in: log), log)
        XCTAssertTrue(step >= 200 && step % 100 == 0, "resumed at step \(step), not from the newest periodic checkpoint:\n\(log)")
        print("killed rank: job \(job.id) resumed at step \(step), done \(seconds(since: killed)) after the SIGKILL")
        assertBitwiseEqual(run, reference.runDirectory)
    }

    // MARK: Checks

    /// The stop's checkpoint: the newest one of `run` before the final step (the recipe writes no
    /// other), written after `date`, complete. Returns its step.
    private func assertStopCheckpoint(in run: String, writtenAfter date: Date, log: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let stop = try XCTUnwrap(try CheckpointDirectory(runDirectory: run).checkpoints().last { $0.step < LocalSlurm.steps },
                                 "no checkpoint of the stop in \(run):\n\(log)", file: file, line: line)
        let written = try FileManager.default.attributesOfItem(atPath: stop.path)[.modificationDate] as? Date
        XCTAssertGreaterThanOrEqual(written ?? .distantPast, date, "\(stop.path) is older than the stop:\n\(log)", file: file, line: line)
        XCTAssertNoThrow(try CheckpointReader(contentsOf: stop.path).verify(), file: file, line: line)
        return stop.step
    }

    private func assertBitwiseEqual(_ run: String, _ reference: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(TrainingRuns.identical("\(run)/model.safetensors", "\(reference)/model.safetensors"),
                      "\(run)/model.safetensors differs from the uninterrupted run's", file: file, line: line)
    }

    private func seconds(since date: Date) -> String { String(format: "%.1f s", Date().timeIntervalSince(date)) }

    private func firstNumber(after prefix: String, in text: String) -> Int? {
        guard let range = text.range(of: prefix) else { return nil }
        return Int(text[range.upperBound...].prefix(while: \.isNumber))
    }
}

/// The private cluster the Slurm tests share, their data set and the uninterrupted reference run.
final class LocalSlurm: @unchecked Sendable {
    struct Job { let id: String }
    struct Reference { let runDirectory: String; let info: [String: String]; let log: String }

    nonisolated(unsafe) private static var instance: Result<LocalSlurm, Error>?
    private var referenceRun: Result<Reference, Error>?

    let directory: String
    let work: String
    let script = Programs.repositoryRoot.appendingPathComponent("cluster/slurm/wavemix.sbatch").path
    private static let clusterScript = Programs.repositoryRoot.appendingPathComponent("cluster/slurm/local-cluster.sh").path
    private let environment: [String: String]
    private let data: String

    /// The small recipe: 64000 images at a global batch of 16 make one epoch of `steps` steps, so
    /// the only checkpoints are the final one and those a stop writes. Interrupted jobs run paced
    /// (TrainingRuns.paced: at least 12 s); unpaced, a CI machine ran the 4000 steps in 5 s at 12000
    /// img/s, and the time-limit warning sent after step 100 arrived after the last one.
    static let steps = 4000
    static let recipe = ["--final-dim", "16", "--ff-channel", "16", "--depth", "2", "--dropout", "0.3", "--batch-size", "8",
                         "--max-steps", "\(steps)", "--epochs", "1", "--seed", "7", "--log-every", "10"]

    /// The cluster, started on first use; an XCTSkip where Slurm cannot run.
    static func shared() throws -> LocalSlurm {
        if instance == nil { instance = Result { try LocalSlurm() } }
        return try instance!.get()
    }

    static func shutDown() {
        guard case .success(let cluster)? = instance else { return }
        let down = try? Programs.run(clusterScript, ["down", cluster.directory], deadline: 60)
        if down?.status != 0 { print("local-cluster.sh down: \(down?.output ?? "did not run")") }
        try? FileManager.default.removeItem(atPath: cluster.directory)
        try? FileManager.default.removeItem(atPath: cluster.work)
        instance = nil
    }

    private init() throws {
        guard getuid() == 0 else {
            throw XCTSkip("the local Slurm test needs root (its daemons run as SlurmUser=root); skipped")
        }
        for program in ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "srun"]
        where Self.which(program) == nil {
            throw XCTSkip("Slurm is not installed (no \(program)): apt-get install slurm-wlm munge, or run scripts/test.sh as root; skipped")
        }
        _ = try Programs.mpirun()
        let binary = try Programs.wavemix()
        // Short paths: the munge socket's path must fit in 108 bytes.
        let id = UUID().uuidString.prefix(8)
        directory = "/tmp/wavemix-slurm-\(id)"
        work = "/tmp/wavemix-slurm-work-\(id)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let up = try Programs.run(Self.clusterScript, ["up", directory, "--nodes", "2", "--cpus", "2", "--kill-wait", "10",
                                                       "--owner", "\(getpid())", "--max-seconds", "1200"], deadline: 90)
        guard up.status == 0, let line = up.stdout.split(separator: "\n").first(where: { $0.hasPrefix("SLURM_CONF=") }) else {
            try? FileManager.default.removeItem(atPath: work)
            throw LocalSlurmError("local-cluster.sh up failed (status \(up.status)):\n\(up.output)")
        }
        environment = Programs.environment(["SLURM_CONF": String(line.dropFirst("SLURM_CONF=".count)), "WAVEMIX": binary])
        data = "\(work)/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try IDXDataSet.write(to: data, train: 16 * Self.steps, test: 500)
    }

    private static func which(_ program: String) -> String? {
        for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] + (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) {
            if FileManager.default.isExecutableFile(atPath: "\(dir)/\(program)") { return "\(dir)/\(program)" }
        }
        return nil
    }

    func runDirectory(_ name: String) -> String { "\(work)/\(name)" }

    /// `train` and its arguments for the batch script.
    func train(_ runDirectory: String) -> [String] {
        ["train", "--data", "idx:\(data)"] + Self.recipe + ["--run-dir", runDirectory]
    }

    /// The uninterrupted run (default batch-script size: 1 node, 2 ranks), made once.
    func reference() throws -> Reference {
        if referenceRun == nil {
            referenceRun = Result {
                let run = runDirectory("reference")
                let job = try submit([], train(run))
                let info = try waitUntilGone(job)
                let log = log(of: job)
                guard FileManager.default.fileExists(atPath: "\(run)/model.safetensors") else {
                    throw LocalSlurmError("the reference job \(job.id) wrote no model (\(info["JobState"] ?? "?")):\n\(log)")
                }
                return Reference(runDirectory: run, info: info, log: log)
            }
        }
        return try referenceRun!.get()
    }

    /// A Slurm command against this cluster; a non-zero status throws with its output.
    @discardableResult
    func slurm(_ command: String, _ arguments: [String], environment extra: [String: String] = [:]) throws -> ChildResult {
        let result = try Programs.run(Self.which(command) ?? command, arguments,
                                      environment: environment.merging(extra) { $1 }, deadline: 30)
        guard result.status == 0 else { throw LocalSlurmError("\(command) \(arguments.joined(separator: " ")): \(result.output)") }
        return result
    }

    /// Submits the batch script with `scriptArguments` (or a --wrap command), its log in the work
    /// directory and a 5-minute time limit, so no job outlives a broken test for long.
    func submit(_ options: [String], _ scriptArguments: [String] = [], wrap: String? = nil,
                environment extra: [String: String] = [:]) throws -> Job {
        var arguments = ["--parsable", "--chdir=\(work)", "--output=\(work)/job-%j.out", "--time=5"] + options
        if let wrap { arguments += ["--wrap", wrap] } else { arguments += [script] + scriptArguments }
        let out = try slurm("sbatch", arguments, environment: extra).stdout
        let id = String(out.prefix(while: \.isNumber))
        guard !id.isEmpty else { throw LocalSlurmError("sbatch printed no job id: \(out)") }
        return Job(id: id)
    }

    func log(of job: Job) -> String {
        (try? String(contentsOfFile: "\(work)/job-\(job.id).out", encoding: .utf8)) ?? "(no log)"
    }

    /// Waits until the job has left the queue (requeues included) and returns `scontrol show job`'s
    /// fields. After `deadline` seconds the job is cancelled and the test fails.
    @discardableResult
    func waitUntilGone(_ job: Job, deadline: Double = 150) throws -> [String: String] {
        let end = Date().addingTimeInterval(deadline)
        while try !slurm("squeue", ["-h", "-j", job.id, "-o", "%T"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            guard Date() < end else {
                _ = try? slurm("scancel", [job.id])
                throw LocalSlurmError("job \(job.id) still queued after \(Int(deadline)) s; cancelled. Its log:\n\(log(of: job))\n"
                                      + "slurmctld:\n\(tail("\(directory)/log/slurmctld.log"))")
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let line = try slurm("scontrol", ["show", "job", "-o", job.id]).stdout
        var fields: [String: String] = [:]
        for token in line.split(whereSeparator: \.isWhitespace) {
            guard let equals = token.firstIndex(of: "=") else { continue }
            fields[String(token[..<equals])] = String(token[token.index(after: equals)...])
        }
        return fields
    }

    /// Waits until rank 0 has logged step `step` (metrics.jsonl) while the job runs.
    func waitForStep(_ step: Int, of job: Job, in runDirectory: String, deadline: Double = 120) throws {
        let end = Date().addingTimeInterval(deadline)
        while Date() < end {
            let metrics = (try? String(contentsOfFile: "\(runDirectory)/metrics.jsonl", encoding: .utf8)) ?? ""
            let steps = metrics.split(separator: "\n").compactMap { line -> Int? in
                guard let range = line.range(of: "\"step\":") else { return nil }
                return Int(line[range.upperBound...].prefix(while: \.isNumber))
            }
            if let last = steps.max(), last >= step {
                if last >= Self.steps { throw LocalSlurmError("job \(job.id) finished before it could be interrupted: \(log(of: job))") }
                return
            }
            if try slurm("squeue", ["-h", "-j", job.id, "-o", "%T"]).stdout.isEmpty {
                throw LocalSlurmError("job \(job.id) ended before step \(step):\n\(log(of: job))")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw LocalSlurmError("job \(job.id) did not reach step \(step) in \(Int(deadline)) s:\n\(log(of: job))")
    }

    private func tail(_ path: String, lines: Int = 30) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}

struct LocalSlurmError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
