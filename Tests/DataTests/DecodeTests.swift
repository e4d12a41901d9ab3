// Decoding image files into samples: JPEG (RGB, grey, CMYK) and PNG (grey, grey + alpha, RGB,
// RGBA) recognised by content whatever the extension, DCT-domain downscaling close to the full
// decode, and every kind of unusable file refused with DataError.badImage naming it.

import TestSupport
import Foundation
import Testing
@testable import Data

/// Decodes `file` as epoch 0 sample 0 with a centre policy (no resize when `resize` equals the short side).
private func decode(_ file: String, size: Int, resize: Int, dct: Bool = true) throws(DataError) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: size * size * 3)
    let decoder = SampleDecoder(size: size, crop: .centre(resize: resize), dctDownscale: dct)
    try output.withUnsafeMutableBufferPointer { (out) throws(DataError) in
        try decoder.decode(file: file, seed: 0, epoch: 0, index: 0, into: out.baseAddress!)
    }
    return output
}

private func badImageReason(_ body: () throws(DataError) -> Void) -> String? {
    do { try body() } catch {
        if case let .badImage(_, reason) = error { return reason }
        return "other error: \(error)"
    }
    return nil
}

@Suite struct DecodeTests {
    @Test func pngsOfEveryColourTypeDecodeExactly() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let rgb = patternImage(width: 6, height: 6, key: 3)
        let grey = randomBytes(36, key: 4), alpha = randomBytes(36, key: 5)
        var rgba: [UInt8] = [], greyAlpha: [UInt8] = [], greyRGB: [UInt8] = []
        for p in 0..<36 {
            rgba += [rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2], alpha[p]]
            greyAlpha += [grey[p], alpha[p]]
            greyRGB += [grey[p], grey[p], grey[p]]
        }
        // Alpha is dropped and colours kept; grey is replicated.
        let cases: [(UInt8, [UInt8], [UInt8])] = [(2, rgb, rgb), (6, rgba, rgb), (0, grey, greyRGB), (4, greyAlpha, greyRGB)]
        for (colorType, pixels, expected) in cases {
            let file = try dir.write("image-\(colorType).png", png(width: 6, height: 6, colorType: colorType, pixels: pixels))
            #expect(try decode(file, size: 6, resize: 6) == expected, "colour type \(colorType)")
        }
    }

    @Test func formatIsRecognisedByContentNotExtension() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let rgb = patternImage(width: 5, height: 5, key: 1)
        let file = try dir.write("n02105855_2933.JPEG", png(width: 5, height: 5, colorType: 2, pixels: rgb))
        #expect(try decode(file, size: 5, resize: 5) == rgb)
        let jpegAsPNG = try dir.write("photo.png", jpeg(width: 20, height: 20, key: 2))
        #expect(try decode(jpegAsPNG, size: 20, resize: 20).count == 1200)
    }

    @Test func greyAndCMYKJPEGsBecomeRGB() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let grey = try dir.write("grey.jpg", JPEGCodec.encode(randomBytes(16 * 16, key: 1, below: 1).map { $0 + 90 }, width: 16,
                                                             height: 16, channels: 1, quality: 95))
        let decodedGrey = try decode(grey, size: 16, resize: 16)
        for p in 0..<256 {
            let (r, g, b) = (decodedGrey[3 * p], decodedGrey[3 * p + 1], decodedGrey[3 * p + 2])
            #expect(r == g && g == b)
        }
        #expect(abs(Int(decodedGrey[0]) - 90) <= 2)
        // Adobe CMYK (inverted): C = 200, M = 100, Y = 50 stored, K = 255 stored (no black ink): RGB = (200, 100, 50).
        var cmyk: [UInt8] = []
        for _ in 0..<256 { cmyk += [200, 100, 50, 255] }
        let file = try dir.write("cmyk.jpg", JPEGCodec.encode(cmyk, width: 16, height: 16, channels: 4, quality: 98))
        let decoded = try decode(file, size: 16, resize: 16)
        for (channel, expected) in [200, 100, 50].enumerated() {
            #expect(abs(Int(decoded[8 * 48 + 24 + channel]) - expected) <= 3, "channel \(channel): \(decoded[8 * 48 + 24 + channel])")
        }
    }

    @Test func dctDownscalingStaysCloseToTheFullDecode() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let file = try dir.write("large.jpg", jpeg(width: 800, height: 600, key: 7, quality: 95))
        let reduced = try decode(file, size: 96, resize: 100, dct: true)  // shrinks 6x: decoded at 1/4
        let full = try decode(file, size: 96, resize: 100, dct: false)
        let meanError = zip(reduced, full).map { abs(Double($0) - Double($1)) }.reduce(0, +) / Double(full.count)
        #expect(reduced != full && meanError < 1.5, "mean |difference| \(meanError)")
    }

    @Test func unusableFilesAreBadImages() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let good = jpeg(width: 64, height: 48, key: 1)
        let truncatedScan = try dir.write("truncated.jpg", Array(good.prefix(good.count * 2 / 3)))
        let truncatedHeader = try dir.write("header.jpg", Array(good.prefix(160)))  // inside a table segment
        let garbage = try dir.write("garbage.jpg", [0xFF, 0xD8, 0xFF] + randomBytes(500, key: 3))
        let text = try dir.write("notes.jpg", Array("not an image".utf8))
        let empty = try dir.write("empty.jpg", [])
        let brokenPNG = try dir.write("broken.png", Array(png(width: 8, height: 8, colorType: 2, pixels: randomBytes(192, key: 2)).prefix(60)))
        let expectations: [(String, String)] = [
            (truncatedScan, "truncated JPEG: Premature end of JPEG file"), (truncatedHeader, "corrupt JPEG: Bogus marker length"),
            (garbage, "corrupt JPEG"),
            (text, "neither JPEG nor PNG (starts with 6e 6f 74 20)"), (empty, "empty file"), (brokenPNG, "corrupt PNG"),
            (dir.file("missing.jpg"), "No such file or directory"),
        ]
        for (file, reason) in expectations {
            let found = badImageReason { () throws(DataError) in _ = try decode(file, size: 32, resize: 32) }
            #expect(found?.hasPrefix(reason) == true, "\(file): \(found ?? "decoded")")
        }
        // A failed decode must not spoil this thread's decoder for the next image.
        #expect(try decode(dir.write("good.jpg", good), size: 32, resize: 32).count == 32 * 32 * 3)
        let error = #expect(throws: DataError.self) { try decode(text, size: 32, resize: 32) }
        #expect(error?.description == "\(text): unusable image: neither JPEG nor PNG (starts with 6e 6f 74 20)")
    }
}
