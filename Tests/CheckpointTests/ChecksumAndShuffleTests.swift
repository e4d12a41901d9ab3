// Tests of the building blocks: XXH64 against the xxHash project's sanity vectors (input: the
// xxhsum test buffer), also while copying, and the byte-plane shuffle against a plain reference.
import XCTest
@testable import Checkpoint

final class ChecksumAndShuffleTests: XCTestCase {
    /// xxhsum's sanity buffer: byte i is the top byte of PRIME32 * PRIME64^i.
    private let sanityBuffer: [UInt8] = {
        var generator: UInt64 = 2_654_435_761
        return (0..<2367).map { _ in
            defer { generator = generator &* 11_400_714_785_074_694_797 }
            return UInt8(generator >> 56)
        }
    }()

    private func xxh64(_ bytes: ArraySlice<UInt8>) -> UInt64 { bytes.withUnsafeBytes { XXH64.hash($0) } }

    func testXXH64MatchesReferenceVectors() {
        XCTAssertEqual(xxh64(sanityBuffer[0..<0]), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(xxh64(sanityBuffer[0..<1]), 0xE934_A84A_DB05_2768)
        XCTAssertEqual(xxh64(sanityBuffer[0..<14]), 0x8282_DCC4_994E_35C8)
        XCTAssertEqual(xxh64(sanityBuffer[0..<222]), 0xB641_AE8C_B691_C174)
        XCTAssertEqual(xxh64(Array("abc".utf8)[...]), 0x44BC_2CF5_AD77_0999)
    }

    func testXXH64IgnoresAlignment() {
        let shifted = [0] + sanityBuffer
        for length in [0, 3, 31, 32, 33, 100, 1000] {
            XCTAssertEqual(xxh64(shifted[1..<(1 + length)]), xxh64(sanityBuffer[0..<length]), "length \(length)")
        }
    }

    func testXXH64WhileCopyingHashesAndCopiesEveryByte() {
        let shifted = [0] + sanityBuffer
        for length in [0, 1, 7, 31, 32, 33, 63, 64, 100, 1000, 2366] {
            var copy = [UInt8](repeating: 0xAA, count: length + 2)
            let hash = shifted[1..<(1 + length)].withUnsafeBytes { source in
                copy.withUnsafeMutableBytes { XXH64.hash(source, copyingTo: $0.baseAddress! + 1) }
            }
            XCTAssertEqual(hash, xxh64(sanityBuffer[0..<length]), "length \(length)")
            XCTAssertEqual(Array(copy[1..<(1 + length)]), Array(sanityBuffer[0..<length]), "length \(length)")
            XCTAssertEqual([copy[0], copy[length + 1]], [0xAA, 0xAA], "nothing outside the destination, length \(length)")
        }
    }

    func testByteShuffleSplitsPlanesAndMergesBack() {
        var random = TestRandom(seed: 3)
        for count in [0, 1, 15, 16, 17, 100, 4099] {
            let words = (0..<count).map { _ in UInt32(truncatingIfNeeded: random.next()) }
            var planes = [UInt8](repeating: 0, count: 4 * count)
            var merged = [UInt32](repeating: 0, count: count)
            words.withUnsafeBytes { source in
                planes.withUnsafeMutableBytes { ByteShuffle.split(source.baseAddress!, into: $0.baseAddress!, count: count) }
            }
            for (index, word) in words.enumerated() {
                for plane in 0..<4 {
                    XCTAssertEqual(planes[plane * count + index], UInt8(truncatingIfNeeded: word >> (8 * plane)))
                }
            }
            planes.withUnsafeBytes { source in
                merged.withUnsafeMutableBytes { ByteShuffle.merge(source.baseAddress!, into: $0.baseAddress!, count: count) }
            }
            XCTAssertEqual(merged, words, "count \(count)")
        }
    }
}
