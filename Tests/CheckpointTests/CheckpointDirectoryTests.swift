// Tests of run-directory management: names, keep-K rotation, the latest pointer, picking the newest
// valid checkpoint past corrupt ones, stale temporary files, a writer SIGKILLed mid-save (a child
// process: this test binary re-run on one helper test), and write failures.
import TestSupport
import Foundation
import XCTest
@testable import Checkpoint

final class CheckpointDirectoryTests: XCTestCase {
    private static let childRunDirectoryVariable = "WAVEMIX_CHECKPOINT_TEST_CHILD_RUN_DIR"

    private func save(_ directory: CheckpointDirectory, step: Int, keep: Int = 10) throws(CheckpointError) -> CheckpointContents {
        let contents = CheckpointContents.sample(paramCount: 5000, seed: UInt64(step))
        try directory.save(contents.writer(), step: step, keep: keep)
        return contents
    }

    func testFileNamesSortAndParse() {
        XCTAssertEqual(CheckpointDirectory.fileName(step: 42), "step-00000042.wmx")
        XCTAssertEqual(CheckpointDirectory.fileName(step: 123_456_789), "step-123456789.wmx")
        XCTAssertEqual(CheckpointDirectory.step(fromFileName: "step-00000042.wmx"), 42)
        XCTAssertEqual(CheckpointDirectory.step(fromFileName: "step-123456789.wmx"), 123_456_789)
        for other in ["step-42.wmx", ".step-00000042.wmx.tmp-7", "latest", "step-0000004x.wmx", "step-00000042.wmx~"] {
            XCTAssertNil(CheckpointDirectory.step(fromFileName: other), other)
        }
    }

    func testSaveKeepsTheNewestAndPointsLatestAtIt() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let directory = CheckpointDirectory(runDirectory: scratch.path + "/run")
        var saved: [Int: CheckpointContents] = [:]
        for step in [100, 200, 300, 400, 500] {
            saved[step] = try save(directory, step: step, keep: 2)
        }
        XCTAssertEqual(try directory.checkpoints().map(\.step), [400, 500])
        XCTAssertEqual(directory.latestPointer(), "step-00000500.wmx")
        XCTAssertEqual(try CheckpointContents.load(directory.checkpointsDirectory + "/step-00000400.wmx"), saved[400])

        // Saving an older step (a run resumed from further back) never removes the file it just wrote.
        _ = try save(directory, step: 50, keep: 2)
        XCTAssertEqual(try directory.checkpoints().map(\.step), [50, 400, 500])
        XCTAssertEqual(directory.latestPointer(), "step-00000050.wmx")
        XCTAssertEqual(temporaryFiles(in: directory.checkpointsDirectory), [])
    }

    func testNewestValidSkipsCorruptAndTruncatedCheckpointsWithAWarning() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let directory = CheckpointDirectory(runDirectory: scratch.path)
        XCTAssertNil(try directory.newestValid(), "no checkpoints directory yet")
        let first = try save(directory, step: 1)
        _ = try save(directory, step: 2)
        _ = try save(directory, step: 3)
        let path2 = directory.checkpointsDirectory + "/step-00000002.wmx"
        let path3 = directory.checkpointsDirectory + "/step-00000003.wmx"

        var bytes = readBytes(path3)
        bytes[bytes.count - 100] ^= 0x04
        writeBytes(bytes, to: path3)
        var skipped: [CheckpointError] = []
        XCTAssertEqual(try directory.newestValid { skipped.append($0) }?.path, path2)
        XCTAssertEqual(skipped.count, 1)
        XCTAssertTrue(skipped[0].description.hasPrefix("\(path3): checksum mismatch in section"), skipped[0].description)

        let bytes2 = readBytes(path2)
        writeBytes(Array(bytes2[0..<(bytes2.count / 2)]), to: path2)
        skipped = []
        let reader = try XCTUnwrap(try directory.newestValid { skipped.append($0) })
        XCTAssertEqual(try CheckpointContents.load(reader.path), first)
        XCTAssertEqual(skipped.map(caseName), ["checksumMismatch", "truncated"])

        writeBytes(Array("junk".utf8), to: reader.path)
        skipped = []
        XCTAssertNil(try directory.newestValid { skipped.append($0) })
        XCTAssertEqual(skipped.count, 3)
    }

    func testScansIgnoreStaleTemporaryFilesAndTolerateAMissingOrStalePointer() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let directory = CheckpointDirectory(runDirectory: scratch.path)
        let first = try save(directory, step: 1)
        let stale = directory.checkpointsDirectory + "/.step-00000099.wmx.tmp-4242"
        writeBytes(Array(repeating: 7, count: 1000), to: stale)
        writeBytes(Array("notes".utf8), to: directory.checkpointsDirectory + "/notes.txt")
        writeBytes(Array("step-00000077.wmx\n".utf8), to: directory.checkpointsDirectory + "/latest")
        XCTAssertEqual(try directory.checkpoints().map(\.step), [1])
        XCTAssertEqual(try CheckpointContents.load(try XCTUnwrap(try directory.newestValid()).path), first)

        try FileManager.default.removeItem(atPath: directory.checkpointsDirectory + "/latest")
        XCTAssertNil(directory.latestPointer())
        XCTAssertEqual(try directory.newestValid()?.path, directory.checkpointsDirectory + "/step-00000001.wmx")

        _ = try save(directory, step: 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale), "the next save removes stale temporary files")
        XCTAssertTrue(FileManager.default.fileExists(atPath: directory.checkpointsDirectory + "/notes.txt"))
        XCTAssertEqual(directory.latestPointer(), "step-00000002.wmx")
    }

    // MARK: - A writer killed mid-save

    /// Runs only as the child of testKilledWriterLeavesThePreviousCheckpointLoadable: saves a
    /// checkpoint with the pause hook set, so the parent can SIGKILL it half-way.
    func testHelperChildSavesWithPause() throws {
        guard let runDirectory = ProcessInfo.processInfo.environment[Self.childRunDirectoryVariable] else {
            throw XCTSkip("helper for testKilledWriterLeavesThePreviousCheckpointLoadable, runs only as its child")
        }
        var random = TestRandom(seed: 99)
        var writer = CheckpointWriter(metadata: TrainState(step: 2), options: .init(chunkBytes: 1 << 20))
        writer.add("params", floats: random.normals(4 << 20, scale: 0.02))
        try CheckpointDirectory(runDirectory: runDirectory).save(writer, step: 2, keep: 5)
    }

    func testKilledWriterLeavesThePreviousCheckpointLoadable() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let directory = CheckpointDirectory(runDirectory: scratch.path)
        let previous = try save(directory, step: 1)

        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0], relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        child.arguments = ["CheckpointTests.CheckpointDirectoryTests/testHelperChildSavesWithPause"]
        child.environment = ProcessInfo.processInfo.environment.merging(
            [Self.childRunDirectoryVariable: scratch.path, CheckpointWriter.pauseEnvironmentVariable: "120"]) { $1 }
        child.standardOutput = FileHandle.nullDevice
        child.standardError = FileHandle.nullDevice
        try child.run()
        defer { if child.isRunning { kill(child.processIdentifier, SIGKILL) } }

        // Wait until the child's temporary file holds a good part of its 16 MiB of floats.
        let deadline = Date().addingTimeInterval(120)
        var temporarySize = 0
        while temporarySize < 4 << 20 {
            XCTAssertTrue(child.isRunning, "the child must be paused inside the save, not finished")
            guard child.isRunning, Date() < deadline else { return XCTFail("the child never got half-way") }
            Thread.sleep(forTimeInterval: 0.05)
            temporarySize = temporaryFiles(in: directory.checkpointsDirectory).compactMap {
                (try? FileManager.default.attributesOfItem(atPath: directory.checkpointsDirectory + "/" + $0))?[.size] as? Int
            }.max() ?? 0
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        XCTAssertEqual(child.terminationReason, .uncaughtSignal)
        XCTAssertEqual(child.terminationStatus, SIGKILL)

        XCTAssertEqual(try directory.checkpoints().map(\.step), [1], "the killed save never became a checkpoint")
        XCTAssertEqual(directory.latestPointer(), "step-00000001.wmx")
        XCTAssertEqual(temporaryFiles(in: directory.checkpointsDirectory), [".step-00000002.wmx.tmp-\(child.processIdentifier)"],
                       "the killed writer's temporary file is all it left")
        var skipped: [CheckpointError] = []
        let reader = try XCTUnwrap(try directory.newestValid { skipped.append($0) })
        XCTAssertEqual(skipped, [])
        XCTAssertEqual(try CheckpointContents.load(reader.path), previous)

        _ = try save(directory, step: 3)
        XCTAssertEqual(temporaryFiles(in: directory.checkpointsDirectory), [], "cleaned up by the next save")
    }

    // MARK: - Write failures

    func testRunDirectoryUnderARegularFileIsNotWritable() throws {
        let scratch = TemporaryDirectory("checkpoint")
        writeBytes([1], to: scratch.file("plain"))
        let directory = CheckpointDirectory(runDirectory: scratch.file("plain") + "/run")
        let error = thrownError { () throws(CheckpointError) in try directory.save(CheckpointWriter(), step: 1, keep: 1) }
        XCTAssertEqual(error?.description, "\(scratch.file("plain"))/run/checkpoints: directory is not writable: Not a directory")
    }

    func testReadOnlyDirectoryIsNotWritable() throws {
        if geteuid() == 0 {
            throw XCTSkip("running as root, where mode 0500 does not stop writes; covered by the not-a-directory and failed-write tests")
        }
        let scratch = TemporaryDirectory("checkpoint")
        let directory = CheckpointDirectory(runDirectory: scratch.path)
        let first = try save(directory, step: 1)
        XCTAssertEqual(chmod(directory.checkpointsDirectory, 0o500), 0)
        defer { chmod(directory.checkpointsDirectory, 0o700) }
        let error = thrownError { () throws(CheckpointError) in try save(directory, step: 2) }
        guard case .notWritable(directory.checkpointsDirectory, _)? = error else { return XCTFail(String(describing: error)) }
        XCTAssertEqual(try CheckpointContents.load(try XCTUnwrap(try directory.newestValid()).path), first)
    }

    /// A write that fails part-way, as on a full disk. RLIMIT_FSIZE makes the kernel refuse writes
    /// past 1 MiB (EFBIG, with SIGXFSZ ignored), which works even as root; this process's other
    /// files stay far below that during the test.
    func testWriteFailingMidFileKeepsThePreviousCheckpointAndLeavesNoTemporaryFile() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let directory = CheckpointDirectory(runDirectory: scratch.path)
        let first = try save(directory, step: 1)
        let big = CheckpointContents.sample(paramCount: 1 << 20)

        var saved = rlimit()
        XCTAssertEqual(getrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved), 0)
        let previousHandler = signal(SIGXFSZ, SIG_IGN)
        var limited = saved
        limited.rlim_cur = 1 << 20
        XCTAssertEqual(setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &limited), 0)
        let error = thrownError { () throws(CheckpointError) in try directory.save(big.writer(), step: 2, keep: 1) }
        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &saved)
        signal(SIGXFSZ, previousHandler)

        let path2 = directory.checkpointsDirectory + "/step-00000002.wmx"
        XCTAssertEqual(error, .io(operation: "write", path: path2, reason: "File too large"))
        XCTAssertEqual(error?.description, "\(path2): write failed: File too large")
        XCTAssertEqual(try directory.checkpoints().map(\.step), [1])
        XCTAssertEqual(directory.latestPointer(), "step-00000001.wmx")
        XCTAssertEqual(temporaryFiles(in: directory.checkpointsDirectory), [])
        XCTAssertEqual(try CheckpointContents.load(try XCTUnwrap(try directory.newestValid()).path), first)
    }
}
