// Per-sample transforms: normalisation values, exact crop and flip on small synthetic images against
// an explicit pad-crop-flip reference, channel replication, and keyed (reproducible) randomness.

import Testing
@testable import Data

@Suite struct AugmentTests {
    /// Runs `transform` on `image` and returns the floats.
    func apply(_ transform: SampleTransform, _ image: [UInt8], epoch: Int = 0, sampleIndex: Int = 0) -> [Float] {
        var output = [Float](repeating: .nan, count: transform.outputCount)
        image.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { transform.apply(source.baseAddress!, epoch: epoch, sampleIndex: sampleIndex, into: $0.baseAddress!) }
        }
        return output
    }

    /// torchvision's order written out: pad with zeros, cut the window, flip, replicate, then normalise.
    func reference(_ image: [UInt8], height: Int, width: Int, inputChannels: Int, outputChannels: Int, padding: Int,
                   draw: AugmentationDraw, normalization: Normalization) -> [Float] {
        let paddedWidth = width + 2 * padding
        var padded = [UInt8](repeating: 0, count: (height + 2 * padding) * paddedWidth * inputChannels)
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<inputChannels {
                    padded[((y + padding) * paddedWidth + x + padding) * inputChannels + c] = image[(y * width + x) * inputChannels + c]
                }
            }
        }
        var output: [Float] = []
        for y in 0..<height {
            for x in 0..<width {
                let windowX = draw.flipped ? width - 1 - x : x
                for c in 0..<outputChannels {
                    let sourceChannel = inputChannels == 1 ? 0 : c
                    let byte = padded[((draw.cropTop + y) * paddedWidth + draw.cropLeft + windowX) * inputChannels + sourceChannel]
                    let stat = normalization.mean.count == 1 ? 0 : c
                    output.append((Float(byte) / 255 - normalization.mean[stat]) / normalization.std[stat])
                }
            }
        }
        return output
    }

    @Test func normalisationFollowsToTensorThenNormalize() {
        let transform = SampleTransform(height: 1, width: 3, inputChannels: 1, outputChannels: 1, normalization: .fashionMNIST)
        let output = apply(transform, [0, 128, 255])
        #expect(output == [(0 - Float(0.2860)) / 0.3530, (Float(128) / 255 - 0.2860) / 0.3530, (1 - Float(0.2860)) / 0.3530])
        #expect(abs(output[2] - 2.0226628) < 1e-6)
        #expect(transform.normalized(128, channel: 0) == output[1])
    }

    @Test func perChannelStatisticsApplyToTheirChannels() {
        let norm = Normalization(mean: [0.1, 0.5, 0.9], std: [0.2, 0.5, 1.0])
        let transform = SampleTransform(height: 1, width: 1, inputChannels: 3, outputChannels: 3, normalization: norm)
        #expect(apply(transform, [51, 51, 51]) == [(Float(51) / 255 - 0.1) / 0.2, (Float(51) / 255 - 0.5) / 0.5, (Float(51) / 255 - 0.9) / 1.0])
    }

    @Test func grayscaleIsReplicatedToThreeChannels() {
        let transform = SampleTransform(height: 2, width: 2, inputChannels: 1, outputChannels: 3, normalization: .mnist)
        let output = apply(transform, [0, 10, 20, 30])
        #expect(output.count == 12)
        for pixel in 0..<4 {
            #expect(output[pixel * 3] == output[pixel * 3 + 1] && output[pixel * 3] == output[pixel * 3 + 2])
            #expect(output[pixel * 3] == transform.normalized(UInt8(pixel * 10), channel: 0))
        }
    }

    @Test func cropAndFlipAreExactOnASmallImage() {
        let identity = Normalization(mean: [0], std: [Float(1) / 255])  // output = byte value
        let transform = SampleTransform(height: 2, width: 3, inputChannels: 1, outputChannels: 1, normalization: identity,
                                        augmentation: Augmentation(cropPadding: 1, horizontalFlip: true), seed: 11)
        let image: [UInt8] = [1, 2, 3,
                              4, 5, 6]
        // Find samples whose draws are the corner window without flip and the bottom-right window with flip.
        let topLeft = (0..<1000).first { transform.draw(epoch: 0, sampleIndex: $0) == AugmentationDraw(cropTop: 0, cropLeft: 0, flipped: false) }!
        #expect(apply(transform, image, sampleIndex: topLeft) == [0, 0, 0,
                                                                   0, 1, 2])
        let bottomRightFlipped = (0..<1000).first { transform.draw(epoch: 0, sampleIndex: $0) == AugmentationDraw(cropTop: 2, cropLeft: 2, flipped: true) }!
        #expect(apply(transform, image, sampleIndex: bottomRightFlipped) == [0, 6, 5,
                                                                              0, 0, 0])
        let centreFlipped = (0..<1000).first { transform.draw(epoch: 0, sampleIndex: $0) == AugmentationDraw(cropTop: 1, cropLeft: 1, flipped: true) }!
        #expect(apply(transform, image, sampleIndex: centreFlipped) == [3, 2, 1,
                                                                         6, 5, 4])
    }

    @Test(arguments: [(1, 1, 2), (1, 3, 2), (3, 3, 2), (2, 2, 1), (1, 4, 3), (1, 1, 6), (3, 3, 7)])
    func everyDrawMatchesTheReference(inputChannels: Int, outputChannels: Int, padding: Int) {
        let (height, width) = (5, 4)  // padding 6 and 7 put whole windows into the padding
        let norm = outputChannels == 1 ? Normalization.mnist
            : Normalization(mean: (0..<outputChannels).map { 0.3 + Float($0) / 10 }, std: (0..<outputChannels).map { 0.2 + Float($0) / 20 })
        let transform = SampleTransform(height: height, width: width, inputChannels: inputChannels, outputChannels: outputChannels,
                                        normalization: norm, augmentation: Augmentation(cropPadding: padding, horizontalFlip: true), seed: 3)
        let image = randomBytes(height * width * inputChannels, key: 99)
        var tops = Set<Int>(), lefts = Set<Int>(), flips = 0
        for sample in 0..<600 {
            let draw = transform.draw(epoch: 1, sampleIndex: sample)
            tops.insert(draw.cropTop)
            lefts.insert(draw.cropLeft)
            flips += draw.flipped ? 1 : 0
            #expect(apply(transform, image, epoch: 1, sampleIndex: sample)
                == reference(image, height: height, width: width, inputChannels: inputChannels, outputChannels: outputChannels,
                             padding: padding, draw: draw, normalization: norm))
        }
        #expect(tops == Set(0...(2 * padding)) && lefts == Set(0...(2 * padding)))
        #expect((240...360).contains(flips))
    }

    @Test func drawsArePureFunctionsOfTheirKey() {
        let augmentation = Augmentation(cropPadding: 4, horizontalFlip: true)
        let a = SampleTransform(height: 8, width: 8, inputChannels: 1, outputChannels: 1, normalization: .mnist, augmentation: augmentation, seed: 1)
        let b = SampleTransform(height: 8, width: 8, inputChannels: 1, outputChannels: 1, normalization: .mnist, augmentation: augmentation, seed: 2)
        let draws = (0..<64).map { a.draw(epoch: 5, sampleIndex: $0) }
        #expect(draws == (0..<64).map { a.draw(epoch: 5, sampleIndex: $0) })
        #expect(draws != (0..<64).map { a.draw(epoch: 6, sampleIndex: $0) })
        #expect(draws != (0..<64).map { b.draw(epoch: 5, sampleIndex: $0) })
        let image = randomBytes(64, key: 4)
        #expect(apply(a, image, epoch: 5, sampleIndex: 9) == apply(a, image, epoch: 5, sampleIndex: 9))
    }

    @Test func withoutAugmentationTheImageIsOnlyNormalised() {
        let transform = SampleTransform(height: 3, width: 3, inputChannels: 1, outputChannels: 1, normalization: .fashionMNIST, seed: 8)
        let image = randomBytes(9, key: 5)
        #expect((0..<20).allSatisfy { transform.draw(epoch: 0, sampleIndex: $0) == AugmentationDraw(cropTop: 0, cropLeft: 0, flipped: false) })
        #expect(apply(transform, image, sampleIndex: 3) == image.map { transform.normalized($0, channel: 0) })
    }
}
