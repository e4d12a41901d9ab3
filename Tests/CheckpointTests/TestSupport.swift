// Helpers shared by the Checkpoint tests: deterministic data, byte surgery on
// files, and capturing a typed error.
import Foundation
import TestSupport
import XCTest

/// SplitMix64: a small deterministic generator, so every test sees the same data on every run.
struct TestRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }

    /// Uniform in (0, 1].
    mutating func unit() -> Float { Float((next() >> 40) + 1) / Float(1 << 24) }

    /// `count` samples of N(0, scale^2) (Box-Muller), like freshly initialised or trained weights.
    mutating func normals(_ count: Int, scale: Float) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        var index = 0
        while index < count {
            let radius = (-2 * logf(unit())).squareRoot() * scale
            let angle = 2 * Float.pi * unit()
            values[index] = radius * cosf(angle)
            if index + 1 < count { values[index + 1] = radius * sinf(angle) }
            index += 2
        }
        return values
    }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

func readBytes(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path)!) }

/// Replaces the file at `path` with `bytes`. Tests rewrite files thousands of times, so: no fsync,
/// and a new file rather than a truncated one (ext4 flushes a file truncated and rewritten on close).
func writeBytes(_ bytes: [UInt8], to path: String) {
    unlink(path)
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    precondition(descriptor >= 0, "cannot create \(path)")
    defer { close(descriptor) }
    let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    precondition(written == bytes.count, "cannot write \(path)")
}

/// The error `body` throws, or nil if it returns.
func thrownError<E: Error, R>(_ body: () throws(E) -> R) -> E? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

/// The name of an error's enum case ("truncated" for .truncated(...)).
func caseName(_ error: any Error) -> String {
    Mirror(reflecting: error).children.first?.label ?? String(describing: error)
}

/// Hidden names in `directory` that look like temporary files of TemporaryFile.
func temporaryFiles(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(".") && $0.contains(".tmp-") }
}
