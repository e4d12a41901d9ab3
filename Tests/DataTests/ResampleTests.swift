// Crops and resampling against torchvision on Pillow: the expected bytes below were produced by
// Pillow 13 (Image.resize(..., BILINEAR) after or before Image.crop, as torchvision's
// RandomResizedCrop and Resize + CenterCrop do), the JPEG decoded by Pillow's libjpeg-turbo. Also
// the RandomResizedCrop box rules and the centre-crop arithmetic (Python's round half to even).

import TestSupport
import Foundation
import Kernels
import Randomness
import Testing
@testable import Data

/// The test pattern of the Pillow script: ((x * a + y * b + channel * c + x * y * 7) mod 256).
private func pillowPattern(width: Int, height: Int, _ a: Int, _ b: Int, _ c: Int) -> [UInt8] {
    (0..<height).flatMap { y in (0..<width).flatMap { x in (0..<3).map { ch in UInt8((x * a + y * b + ch * c + x * y * 7) % 256) } } }
}

/// Resamples `image` with an explicit geometry.
private func resample(_ image: [UInt8], width: Int, _ geometry: SampleGeometry) -> [UInt8] {
    var output = [UInt8](repeating: 0, count: geometry.horizontal.outputs * geometry.vertical.outputs * 3)
    image.withUnsafeBufferPointer { source in
        output.withUnsafeMutableBufferPointer { out in
            SampleDecoder.resample(source.baseAddress!, width: width, geometry: geometry, scratch: DecodeScratch.current,
                                   into: out.baseAddress!)
        }
    }
    return output
}

/// Crop box [start, start + length) stretched onto `outputs` outputs.
private func box(_ start: Int, _ length: Int, to outputs: Int) -> AxisMap {
    AxisMap(clipStart: start, clipEnd: start + length, in0: 0, in1: Float(length), outSize: outputs, firstOutput: 0, outputs: outputs)
}

@Suite struct ResampleTests {
    let small = pillowPattern(width: 7, height: 5, 37, 91, 53)

    @Test func cropThenResizeMatchesPillow() {
        // a.crop((1, 1, 6, 5)).resize((3, 3), BILINEAR)
        let got = resample(small, width: 7, SampleGeometry(horizontal: box(1, 5, to: 3), vertical: box(1, 4, to: 3)))
        #expect(got == [151, 161, 137, 140, 93, 107, 73, 126, 135, 123, 103, 156, 135, 160, 142, 148, 146, 126, 171, 147, 97,
                        130, 126, 137, 145, 165, 116])
    }

    @Test func resizeThenCentreCropMatchesPillow() {
        // a.resize((5, 4), BILINEAR).crop((1, 0, 4, 3)): Resize(4) + CenterCrop(3) of a 7x5 image
        let geometry = CropPolicy.centre(resize: 4).geometry(width: 7, height: 5, size: 3, seed: 0, epoch: 0, index: 0)
        #expect(geometry.horizontal.outSize == 5 && geometry.horizontal.firstOutput == 1)
        #expect(geometry.vertical.outSize == 4 && geometry.vertical.firstOutput == 0)  // round(0.5) = 0, half to even
        #expect(resample(small, width: 7, geometry) == [83, 136, 154, 127, 140, 181, 131, 184, 152, 142, 148, 118, 136, 94, 120, 82,
                                                        135, 140, 112, 117, 170, 144, 170, 128, 158, 128, 133])
    }

    @Test func upsamplingMatchesPillow() {
        // a.crop((0, 0, 3, 2)).resize((4, 3), BILINEAR)
        let got = resample(small, width: 7, SampleGeometry(horizontal: box(0, 3, to: 4), vertical: box(0, 2, to: 3)))
        #expect(got == [0, 53, 106, 23, 76, 129, 51, 104, 157, 74, 127, 180, 46, 99, 152, 71, 124, 177, 102, 155, 160, 127, 180,
                        105, 91, 144, 197, 119, 172, 225, 152, 205, 162, 179, 232, 29])
    }

    @Test func antialiasedShrinkMatchesPillow() {
        // b.resize((5, 4), BILINEAR) of a 23x17 image: several taps per output
        let big = pillowPattern(width: 23, height: 17, 11, 29, 71)
        let got = resample(big, width: 23, SampleGeometry(horizontal: box(0, 23, to: 5), vertical: box(0, 17, to: 4)))
        #expect(got == [101, 143, 140, 123, 140, 126, 131, 133, 126, 130, 132, 122, 143, 128, 117, 133, 124, 117, 127, 130, 124,
                        130, 121, 130, 129, 121, 135, 127, 132, 127, 123, 126, 125, 130, 137, 129, 126, 137, 131, 124, 125, 130,
                        119, 117, 123, 122, 130, 126, 136, 138, 130, 116, 144, 127, 130, 132, 121, 132, 124, 139])
    }

    @Test func jpegDecodeAndEvalTransformMatchPillow() throws {
        // A 24x18 JPEG saved by Pillow (quality 90), decoded and put through Resize(12) + CenterCrop(10):
        // Image.open(f).convert("RGB").resize((16, 12), BILINEAR).crop((3, 1, 13, 11))
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        let file = try dir.write("pillow.jpg", [UInt8](Foundation.Data(base64Encoded: pillowJPEG)!))
        var output = [UInt8](repeating: 0, count: 300)
        try output.withUnsafeMutableBufferPointer { out in
            try SampleDecoder(size: 10, crop: .centre(resize: 12)).decode(file: file, seed: 0, epoch: 0, index: 0, into: out.baseAddress!)
        }
        #expect(output == pillowJPEGCentre)
    }

    @Test func centreCropWithoutResizeCopies() {
        // A 9x6 image, Resize(6) + CenterCrop(6): no resampling, columns round(1.5) = 2 (half to even) ..< 8.
        let image = randomBytes(9 * 6 * 3, key: 5)
        let geometry = CropPolicy.centre(resize: 6).geometry(width: 9, height: 6, size: 6, seed: 0, epoch: 0, index: 0)
        var columns: [UInt8] = []
        for y in 0..<6 { columns += image[(y * 27 + 6)..<(y * 27 + 24)] }
        #expect(resample(image, width: 9, geometry) == columns)
    }

    @Test func centreGeometryFollowsTorchvision() {
        // 500x375 -> Resize(256) gives 341x256 (int(256 * 500 / 375)); CenterCrop(224) at round(58.5) = 58, 16
        let g = CropPolicy.centre(resize: 256).geometry(width: 500, height: 375, size: 224, seed: 0, epoch: 0, index: 0)
        #expect((g.horizontal.outSize, g.horizontal.firstOutput, g.vertical.outSize, g.vertical.firstOutput) == (341, 58, 256, 16))
        let portrait = CropPolicy.centre(resize: 256).geometry(width: 300, height: 451, size: 224, seed: 0, epoch: 0, index: 0)
        #expect((portrait.horizontal.outSize, portrait.vertical.outSize, portrait.vertical.firstOutput) == (256, 384, 80))
    }

    @Test func randomResizedBoxesFollowTheRules() {
        var fallbacks = 0
        for index in 0..<2000 {
            let (width, height) = (300 + index % 97, 200 + index % 131)
            var rng = DataRandomKeys.stream(seed: 9, epoch: 1, sampleIndex: index, salt: DataRandomKeys.resizedCrop)
            let b = CropPolicy.randomBox(width: width, height: height, scale: 0.08...1, ratio: 0.75...(4.0 / 3), rng: &rng)
            #expect(b.top >= 0 && b.left >= 0 && b.top + b.height <= height && b.left + b.width <= width && b.width > 0 && b.height > 0)
            let area = Double(b.width * b.height) / Double(width * height)
            let aspect = Double(b.width) / Double(b.height)
            if b.width == width && b.height == height { fallbacks += 1; continue }
            #expect(area > 0.07 && area <= 1.0 && aspect > 0.74 && aspect < 1.35, "box \(b) of \(width)x\(height)")
        }
        #expect(fallbacks < 20)
        // A strip no box of ratio 3/4..4/3 and area >= 8% fits: the centred largest box of ratio 4/3.
        var rng = SplitMix64(key: 1)
        let strip = CropPolicy.randomBox(width: 1000, height: 10, scale: 0.08...1, ratio: 0.75...(4.0 / 3), rng: &rng)
        #expect(strip == (top: 0, left: 493, height: 10, width: 13))
    }

    @Test func randomCropsAreKeyedBySeedEpochAndIndex() {
        let policy = CropPolicy.randomResizedDefault
        let a = policy.geometry(width: 400, height: 300, size: 224, seed: 1, epoch: 2, index: 3)
        #expect(a == policy.geometry(width: 400, height: 300, size: 224, seed: 1, epoch: 2, index: 3))
        let others = [(2, 2, 3), (1, 3, 3), (1, 2, 4)].map { policy.geometry(width: 400, height: 300, size: 224, seed: UInt64($0.0),
                                                                              epoch: $0.1, index: $0.2) }
        #expect(others.allSatisfy { $0 != a })
    }
}

private let pillowJPEG = """
/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAMCAgMCAgMDAwMEAwMEBQgFBQQEBQoHBwYIDAoMDAsKCwsNDhIQDQ4RDgsLEBYQERMUFRUVDA8XGBYUGBIUFRT/2wBDAQMEBAUEBQkFBQkUDQsNFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBT/wAARCAASABgDASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD5d8CfDo/ao/3Xcdq+6P2e/A8Gmql3dvFa2luhlmnnYJHGijLMzHgAAEknpivAvAvw8l01t5la1t0zI7byiqAOWJ6Dgda9U8f/ABd1DwV8E/FcfhtPt032X+z5LuRU8vEzLBuQlW34MpJJHIUgH5gw+v4l44eeSjg6uCqwc2o3i4ySbdtW3DTXtfyPoeIcsy/JsLTWNqJOo1GMVbnk20rRTf4tqK6tIzvBep6D8Lfgp4oudXlxcTaLPDb2qIzPLJKvkxA7QdoaSRRuPHU84NFec6Hp06fA3V21AW7T3s9oiCVyslxL9pjchSxJZtqux6nCsexNFellmYcKqriauJrz53Ua96FRaJR1XImratau+nQWA4s4lxWIxWKy61Cm6llFKEtFGOrc4u7u3tZWSVrpt9f8S5pIG0G3ido7eczebEhwkm0xldw6HB5GelbvjCCL/hn7xH+7TrZ/wj/n8goor6HGbYb/AK+x/wDSkfmfiP8A8lxhfWh/6Uinq0EX/Cp/C/7tP+Q/b/wj/n3uKKKK+Gqby/xS/M/Wsi/3L/t6X5n/2Q==
"""

private let pillowJPEGCentre: [UInt8] = [
    66, 32, 195, 83, 47, 184, 92, 69, 181, 109, 95, 178, 125, 123, 166, 134, 159, 166, 150, 197, 167, 166, 149, 164, 161, 44, 141,
    188, 84, 151, 85, 39, 202, 103, 53, 193, 114, 75, 191, 128, 100, 184, 146, 133, 171, 150, 167, 166, 167, 206, 170, 188, 158,
    172, 185, 50, 144, 205, 93, 147, 104, 49, 211, 118, 63, 204, 131, 85, 204, 143, 109, 201, 161, 141, 191, 171, 175, 185, 193,
    210, 190, 213, 161, 189, 202, 57, 154, 216, 109, 160, 123, 58, 213, 136, 74, 202, 149, 95, 205, 164, 117, 212, 181, 144, 213,
    193, 177, 212, 223, 201, 218, 207, 133, 193, 199, 73, 187, 190, 120, 192, 149, 67, 164, 159, 86, 163, 171, 108, 179, 186, 125,
    202, 207, 151, 227, 221, 184, 239, 234, 187, 237, 153, 86, 182, 118, 73, 207, 89, 102, 201, 159, 65, 85, 165, 80, 89, 174,
    101, 99, 205, 136, 133, 221, 162, 155, 220, 199, 176, 199, 193, 196, 88, 85, 150, 49, 72, 176, 49, 119, 182, 181, 76, 52, 195,
    92, 55, 204, 116, 51, 210, 144, 49, 205, 180, 55, 163, 203, 63, 96, 163, 84, 18, 65, 65, 32, 77, 107, 49, 128, 104, 205, 82,
    84, 218, 97, 82, 219, 125, 80, 193, 154, 75, 140, 185, 71, 82, 192, 62, 36, 93, 49, 30, 43, 58, 50, 84, 72, 67, 135, 64, 214,
    91, 124, 209, 117, 135, 169, 144, 130, 96, 146, 98, 50, 172, 87, 60, 205, 106, 40, 94, 85, 54, 51, 89, 71, 96, 88, 87, 144, 80,
    193, 116, 178, 128, 114, 162, 67, 125, 144, 41, 156, 139, 42, 193, 140, 68, 215, 149, 56, 103, 124, 69, 59, 126, 88, 104, 126,
    109, 152, 123,
]
