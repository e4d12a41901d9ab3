// Bounded fuzzing of the image and CIFAR readers with mutated copies of valid files (fixed seeds):
// every case is either read or refused with a DataError; none may crash or hang. With the IDX and
// gzip fuzzers (IDXTests, 3,500 cases), the safetensors and checkpoint fuzzers (CheckpointTests,
// 10,000) and the configuration fuzzer (TrainingTests, 1,500), about 18,000 cases run on every
// test run, in seconds.
import TestSupport
import Foundation
import Kernels
import Randomness
import Testing
@testable import Data

struct FuzzTests {
    /// Flips, overwrites, inserts, deletes or truncates a few bytes of `seed`.
    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = seed
        for _ in 0...rng.nextInt(below: 4) where !bytes.isEmpty {
            let at = rng.nextInt(below: bytes.count)
            switch rng.nextInt(below: 6) {
            case 0: bytes[at] ^= UInt8(1 << rng.nextInt(below: 8))
            case 1: bytes[at] = UInt8(rng.nextInt(below: 256))
            case 2: bytes.insert(UInt8(rng.nextInt(below: 256)), at: at)
            case 3: bytes.remove(at: at)
            case 4: bytes[at] = [0x00, 0xFF, 0x7F, 0x80][rng.nextInt(below: 4)]
            default: bytes.removeLast(rng.nextInt(below: bytes.count))
            }
        }
        return bytes
    }

    @Test func mutatedImagesAreDecodedOrRefused() throws {
        let dir = TemporaryDirectory()
        let rgb = (0..<(7 * 5 * 3)).map { UInt8(truncatingIfNeeded: $0 * 37) }
        let seeds = [jpeg(width: 12, height: 9, key: 1), jpeg(width: 17, height: 3, key: 2, quality: 50),
                     png(width: 7, height: 5, colorType: 2, pixels: rgb), png(width: 7, height: 5, colorType: 0, pixels: Array(rgb[0..<35]))]
        let decoder = SampleDecoder(size: 8, crop: .centre(resize: 8))
        var rng = SplitMix64(key: 11, 1)
        var decoded = 0, refused = 0
        var output = [UInt8](repeating: 0, count: 8 * 8 * 3)
        for i in 0..<3000 {
            let file = try dir.write("image", Self.mutate(seeds[i % seeds.count], &rng))
            do throws(DataError) {
                try output.withUnsafeMutableBufferPointer { out throws(DataError) in
                    try decoder.decode(file: file, seed: 0, epoch: 0, index: i, into: out.baseAddress!)
                }
                decoded += 1
            } catch {
                guard case .badImage = error else { Issue.record("unexpected error \(error)"); continue }
                refused += 1
            }
        }
        #expect(decoded > 0 && refused > 0)
    }

    @Test func mutatedCIFARFilesAreLoadedOrRefused() throws {
        let dir = TemporaryDirectory()
        var record = [UInt8](repeating: 0, count: 3073)
        var rng = SplitMix64(key: 11, 2)
        var loaded = 0
        for _ in 0..<300 {
            for name in (1...5).map({ "data_batch_\($0).bin" }) + ["test_batch.bin"] {
                record[0] = UInt8(rng.nextInt(below: 10))
                let file = rng.nextInt(below: 6) == 0 ? Self.mutate(record + record, &rng) : record + record
                try dir.write(name, file)
            }
            do throws(DataError) {
                let set = try CIFAR.load(dir.path, hundred: false)
                #expect(set.train.count == 10 && set.test.count == 2)
                loaded += 1
            } catch {
                #expect(!error.description.contains("\n"))
            }
        }
        #expect(loaded > 0)
    }

    @Test func fileErrorReasonDescribesAnyError() {
        struct Foreign: Error {}
        #expect(!fileErrorReason(Foreign()).isEmpty)
        #expect(fileErrorReason(CocoaError(.fileNoSuchFile)) == String(cString: strerror(ENOENT)))
        #expect(!fileErrorReason(CocoaError(.fileWriteUnknown)).contains("NSCocoaErrorDomain"))
    }
}
