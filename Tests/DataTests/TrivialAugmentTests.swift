// TrivialAugmentWide against torchvision + Pillow: every case of Fixtures/trivial_augment.bin.gz (written by
// scripts/trivial_augment_fixtures.py) bitwise, the magnitude table, the keyed draw, and the op's place in
// SampleTransform (after crop and flip, before normalisation; the default path unchanged).

import Foundation
import Kernels
import Randomness
import Testing
@testable import Data

/// The fixture file: gzip of a little-endian u64 header length, a JSON header and the image bytes it points into.
struct TrivialAugmentFixtures: Decodable {
    struct Image: Decodable {
        let name: String
        let height: Int
        let width: Int
        let channels: Int
        let offset: Int
    }

    struct Case: Decodable {
        let image: String
        let op: String
        let bin: Int?
        let negative: Bool
        let magnitude: Double
        let flip: Bool
        let offset: Int
    }

    let versions: [String: String]
    let ops: [String]
    let magnitudes: [String: [Double]]
    let signed: [String: Bool]
    let images: [Image]
    let cases: [Case]
    var payload: [UInt8] = []

    private enum CodingKeys: String, CodingKey { case versions, ops, magnitudes, signed, images, cases }

    /// torchvision's op names, in TrivialAugmentOp's order.
    static let opNames = ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
                          "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"]

    static let shared: TrivialAugmentFixtures = {
        let url = Bundle.module.url(forResource: "Fixtures/trivial_augment.bin", withExtension: "gz")!
        let file = try! Data(contentsOf: url)
        let bytes = try! file.withUnsafeBytes { try Gzip.inflate($0, file: url.path) }
        let headerLength = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        var fixtures = try! JSONDecoder().decode(TrivialAugmentFixtures.self, from: Data(bytes[8..<(8 + headerLength)]))
        fixtures.payload = Array(bytes[(8 + headerLength)...])
        return fixtures
    }()

    func image(named name: String) -> Image { images.first { $0.name == name }! }

    func bytes(at offset: Int, of image: Image) -> [UInt8] {
        Array(payload[offset..<(offset + image.height * image.width * image.channels)])
    }

    func draw(_ testCase: Case) -> TrivialAugmentDraw {
        TrivialAugmentDraw(op: TrivialAugmentOp(rawValue: Self.opNames.firstIndex(of: testCase.op)!)!,
                           bin: testCase.bin ?? 0, negative: testCase.negative)
    }
}

/// `draw` applied to `image` (height x width x channels).
func trivialAugment(_ draw: TrivialAugmentDraw, _ image: [UInt8], height: Int, width: Int, channels: Int) -> [UInt8] {
    var output = [UInt8](repeating: 0xA5, count: image.count)
    image.withUnsafeBufferPointer { source in
        output.withUnsafeMutableBufferPointer {
            draw.apply(to: source.baseAddress!, height: height, width: width, channels: channels, into: $0.baseAddress!)
        }
    }
    return output
}

/// Where `actual` differs from `expected` (H x W x C): how many pixels, and the first one; nil when equal.
func firstDifference(_ actual: [UInt8], _ expected: [UInt8], width: Int, channels: Int) -> String? {
    let differing = (0..<(expected.count / channels)).filter { p in
        (0..<channels).contains { actual[p * channels + $0] != expected[p * channels + $0] }
    }
    guard let first = differing.first else { return nil }
    let channel = (0..<channels).first { actual[first * channels + $0] != expected[first * channels + $0] }!
    return "\(differing.count) differing pixels; first at x \(first % width), y \(first / width), channel \(channel): "
        + "\(actual[first * channels + channel]) instead of \(expected[first * channels + channel])"
}

@Suite struct TrivialAugmentTests {
    let fixtures = TrivialAugmentFixtures.shared

    @Test func theFixturesComeFromTorchvisionAndPillow() {
        #expect(fixtures.versions["torchvision"] != nil && fixtures.versions["pillow"] != nil)
        #expect(fixtures.cases.count > 2000)
    }

    @Test func opsAndMagnitudesAreTorchvisions() {
        #expect(fixtures.ops == TrivialAugmentFixtures.opNames)
        for op in TrivialAugmentOp.allCases {
            let name = TrivialAugmentFixtures.opNames[op.rawValue]
            #expect(op.magnitudes == fixtures.magnitudes[name]!.map { Float($0) }, "\(name)")
            #expect(op.magnitudes.map(Double.init) == fixtures.magnitudes[name]!, "\(name)")
            #expect(op.isSigned == fixtures.signed[name]!, "\(name)")
        }
    }

    @Test(arguments: TrivialAugmentOp.allCases)
    func everyFixtureCaseIsBitwiseEqual(op: TrivialAugmentOp) {
        let cases = fixtures.cases.filter { $0.op == TrivialAugmentFixtures.opNames[op.rawValue] && !$0.flip }
        #expect(!cases.isEmpty)
        for testCase in cases {
            let image = fixtures.image(named: testCase.image)
            let draw = fixtures.draw(testCase)
            #expect(draw.magnitude.bitPattern == testCase.magnitude.bitPattern, "\(testCase.op) bin \(testCase.bin ?? -1)")
            let output = trivialAugment(draw, fixtures.bytes(at: image.offset, of: image),
                                        height: image.height, width: image.width, channels: image.channels)
            let expected = fixtures.bytes(at: testCase.offset, of: image)
            if let difference = firstDifference(output, expected, width: image.width, channels: image.channels) {
                let bin = testCase.bin.map(String.init) ?? "-"
                Issue.record("\(testCase.op) magnitude \(testCase.magnitude) (bin \(bin)) on \(image.name): \(difference)")
            }
        }
    }

    /// torchvision's Compose order, RandomHorizontalFlip then TrivialAugmentWide, through SampleTransform's own bytes.
    @Test func flipComesBeforeTheOp() {
        let cases = fixtures.cases.filter(\.flip)
        #expect(cases.count >= 8)
        for testCase in cases {
            let image = fixtures.image(named: testCase.image)
            let transform = SampleTransform(height: image.height, width: image.width, inputChannels: image.channels,
                                            outputChannels: image.channels, normalization: .mnist,
                                            augmentation: Augmentation(horizontalFlip: true, trivialAugment: true))
            let draw = fixtures.draw(testCase)
            let choice = AugmentationDraw(cropTop: 0, cropLeft: 0, flipped: true, trivialAugment: draw)
            var output = [UInt8](repeating: 0, count: image.height * image.width * image.channels)
            fixtures.bytes(at: image.offset, of: image).withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer {
                    transform.augmentedBytes(source.baseAddress!, choice: choice, into: $0.baseAddress!)
                }
            }
            let expected = fixtures.bytes(at: testCase.offset, of: image)
            if let difference = firstDifference(output, expected, width: image.width, channels: image.channels) {
                Issue.record("flip, then \(testCase.op) magnitude \(testCase.magnitude) on \(image.name): \(difference)")
            }
            if [.shearX, .shearY, .translateX, .rotate].contains(draw.op) {  // these do not commute with a flip
                let opThenFlip = flipped(trivialAugment(draw, fixtures.bytes(at: image.offset, of: image),
                                                        height: image.height, width: image.width, channels: image.channels),
                                         width: image.width, channels: image.channels)
                #expect(opThenFlip != expected, "\(testCase.op) commutes with the flip on \(image.name)")
            }
        }
    }

    @Test func theDrawIsAPureFunctionOfSeedEpochAndSample() {
        let augmentation = Augmentation(cropPadding: 2, horizontalFlip: true, trivialAugment: true)
        let transform = SampleTransform(height: 8, width: 8, inputChannels: 1, outputChannels: 1, normalization: .mnist,
                                        augmentation: augmentation, seed: 5)
        let other = SampleTransform(height: 8, width: 8, inputChannels: 1, outputChannels: 1, normalization: .mnist,
                                    augmentation: augmentation, seed: 6)
        let withoutIt = SampleTransform(height: 8, width: 8, inputChannels: 1, outputChannels: 1, normalization: .mnist,
                                        augmentation: Augmentation(cropPadding: 2, horizontalFlip: true), seed: 5)
        let draws = (0..<200).map { transform.draw(epoch: 3, sampleIndex: $0) }
        #expect(draws == (0..<200).map { transform.draw(epoch: 3, sampleIndex: $0) })
        #expect(draws != (0..<200).map { transform.draw(epoch: 4, sampleIndex: $0) })
        #expect(draws.map(\.trivialAugment) != (0..<200).map { other.draw(epoch: 3, sampleIndex: $0).trivialAugment })
        // Its own stream: crop and flip draw what they draw without it.
        for (sample, draw) in draws.enumerated() {
            let plain = withoutIt.draw(epoch: 3, sampleIndex: sample)
            #expect(plain.trivialAugment == nil)
            #expect((draw.cropTop, draw.cropLeft, draw.flipped) == (plain.cropTop, plain.cropLeft, plain.flipped))
            // torchvision's order of draws: op, then a bin for ops with magnitudes, then a sign for signed ops.
            var rng = SplitMix64(key: 5, 3, UInt64(sample), 0x5441_5744)
            let op = TrivialAugmentOp(rawValue: rng.nextInt(below: 14))!
            let bin = op.magnitudes.isEmpty ? 0 : rng.nextInt(below: 31)
            let negative = op.isSigned && rng.nextInt(below: 2) == 1
            #expect(draw.trivialAugment == TrivialAugmentDraw(op: op, bin: bin, negative: negative))
        }
    }

    @Test func opsBinsAndSignsAreRoughlyUniform() {
        let transform = SampleTransform(height: 4, width: 4, inputChannels: 3, outputChannels: 3, normalization: .imageNet,
                                        augmentation: Augmentation(trivialAugment: true), seed: 17)
        var opCounts = [Int](repeating: 0, count: 14)
        var rotateMagnitudes: [Double: Int] = [:]
        var negatives = 0, signedDraws = 0
        for sample in 0..<14_000 {
            let draw = transform.draw(epoch: 0, sampleIndex: sample).trivialAugment!
            opCounts[draw.op.rawValue] += 1
            if draw.op == .rotate { rotateMagnitudes[abs(draw.magnitude), default: 0] += 1 }
            if draw.op.isSigned && draw.magnitude != 0 {
                signedDraws += 1
                negatives += draw.magnitude < 0 ? 1 : 0
            }
        }
        // Chi-square with 13 degrees of freedom: 99.99% of fair draws stay below 42; 60 is generous.
        let chiSquare = opCounts.reduce(0.0) { $0 + pow(Double($1) - 1000, 2) / 1000 }
        #expect(chiSquare < 60, "op counts \(opCounts)")
        #expect(rotateMagnitudes.count == 31)
        #expect(abs(Double(negatives) / Double(signedDraws) - 0.5) < 0.03)
    }

    @Test(arguments: [(1, 1, 0), (1, 3, 2), (3, 3, 4)])
    func withoutTrivialAugmentTheFloatsAreCropFlipAndNormalisation(inputChannels: Int, outputChannels: Int, padding: Int) {
        let old = makeTransform(7, 6, inputChannels, outputChannels, Augmentation(cropPadding: padding, horizontalFlip: true))
        let explicit = makeTransform(7, 6, inputChannels, outputChannels,
                                     Augmentation(cropPadding: padding, horizontalFlip: true, trivialAugment: false))
        let image = randomBytes(7 * 6 * inputChannels, key: 31)
        for sample in 0..<100 {
            let draw = old.draw(epoch: 2, sampleIndex: sample)
            #expect(draw.trivialAugment == nil)
            let expected = normalized(cropAndFlip(image, by: old, draw: draw), by: old)
            let floats = apply(old, image, epoch: 2, sampleIndex: sample)
            #expect(floats.map(\.bitPattern) == expected.map(\.bitPattern))
            #expect(apply(explicit, image, epoch: 2, sampleIndex: sample).map(\.bitPattern) == floats.map(\.bitPattern))
        }
    }

    @Test(arguments: [(1, 1, 0), (1, 3, 2), (3, 3, 4)])
    func withTrivialAugmentTheFloatsNormaliseTheOpOfTheFlippedCrop(inputChannels: Int, outputChannels: Int, padding: Int) {
        let (height, width) = (10, 9)
        let transform = makeTransform(height, width, inputChannels, outputChannels,
                                      Augmentation(cropPadding: padding, horizontalFlip: true, trivialAugment: true))
        let image = randomBytes(height * width * inputChannels, key: 32)
        var ops = Set<TrivialAugmentOp>()
        for sample in 0..<300 {
            let draw = transform.draw(epoch: 1, sampleIndex: sample)
            let operation = draw.trivialAugment!
            ops.insert(operation.op)
            let augmented = trivialAugment(operation, cropAndFlip(image, by: transform, draw: draw),
                                           height: height, width: width, channels: inputChannels)
            let expected = normalized(augmented, by: transform)
            #expect(apply(transform, image, epoch: 1, sampleIndex: sample).map(\.bitPattern) == expected.map(\.bitPattern),
                    "\(operation)")
        }
        #expect(ops.count == 14)
    }

    /// A transform with MNIST's statistics for 1 output channel, ImageNet's for 3.
    func makeTransform(_ height: Int, _ width: Int, _ inputChannels: Int, _ outputChannels: Int,
                       _ augmentation: Augmentation) -> SampleTransform {
        SampleTransform(height: height, width: width, inputChannels: inputChannels, outputChannels: outputChannels,
                        normalization: outputChannels == 1 ? .mnist : .imageNet, augmentation: augmentation, seed: 9)
    }

    /// Bytes of `image` padded with zeros, cut at the draw's window and flipped if it says so (torchvision's order).
    func cropAndFlip(_ image: [UInt8], by transform: SampleTransform, draw: AugmentationDraw) -> [UInt8] {
        let (height, width, channels) = (transform.height, transform.width, transform.inputChannels)
        let padding = transform.augmentation.cropPadding
        var output: [UInt8] = []
        for y in 0..<height {
            for x in 0..<width {
                let windowX = draw.flipped ? width - 1 - x : x
                let (sourceY, sourceX) = (draw.cropTop + y - padding, draw.cropLeft + windowX - padding)
                let inside = (0..<height).contains(sourceY) && (0..<width).contains(sourceX)
                for c in 0..<channels { output.append(inside ? image[(sourceY * width + sourceX) * channels + c] : 0) }
            }
        }
        return output
    }

    /// ToTensor + Normalize of `bytes` through `transform`'s table, a 1-channel source repeated to every output channel.
    func normalized(_ bytes: [UInt8], by transform: SampleTransform) -> [Float] {
        let pixels = transform.height * transform.width
        return (0..<pixels).flatMap { p in
            (0..<transform.outputChannels).map { c in
                transform.normalized(bytes[p * transform.inputChannels + (transform.inputChannels == 1 ? 0 : c)], channel: c)
            }
        }
    }

    func apply(_ transform: SampleTransform, _ image: [UInt8], epoch: Int, sampleIndex: Int) -> [Float] {
        var output = [Float](repeating: .nan, count: transform.outputCount)
        image.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer {
                transform.apply(source.baseAddress!, epoch: epoch, sampleIndex: sampleIndex, into: $0.baseAddress!)
            }
        }
        return output
    }

    func flipped(_ image: [UInt8], width: Int, channels: Int) -> [UInt8] {
        var output: [UInt8] = []
        for y in 0..<(image.count / (width * channels)) {
            for x in (0..<width).reversed() {
                let start = (y * width + x) * channels
                output += image[start..<(start + channels)]
            }
        }
        return output
    }
}
