// How an image of any size becomes a size x size network input, with torchvision's semantics:
//   randomResized  RandomResizedCrop(size, scale, ratio): up to 10 draws of an area fraction in
//                  `scale` and a log-uniform aspect ratio in `ratio`; the first box w x h (rounded
//                  half to even, as Python's round) that fits is placed uniformly at random; else
//                  the centre crop of the largest box within `ratio`. The box is resized to
//                  size x size. Draws come from SplitMix64(key: seed, epoch, sample index,
//                  DataRandomKeys.resizedCrop), so they depend on nothing else.
//   centre         Resize(resize) + CenterCrop(size): the shorter side goes to `resize` (the longer
//                  to trunc(resize * long / short)), then the centred size x size window (offsets
//                  round((new - size) / 2), half to even) is kept.
// Both resample with Pillow's antialiased bilinear filter (Resample.swift). A SampleGeometry says,
// per axis, which input span is read and how it maps to the outputs; `scaled` re-expresses it for
// an image decoded at a reduced size (JPEG DCT-domain downscaling).

import Foundation
import Randomness

public enum CropPolicy: Sendable, Equatable, CustomStringConvertible {
    case randomResized(scale: ClosedRange<Double>, ratio: ClosedRange<Double>)
    case centre(resize: Int)

    /// torchvision's defaults: scale (0.08, 1), ratio (3/4, 4/3).
    public static let randomResizedDefault = CropPolicy.randomResized(scale: 0.08...1, ratio: (3.0 / 4)...(4.0 / 3))

    public var description: String {
        switch self {
        case let .randomResized(scale, ratio):
            return "RandomResizedCrop(scale \(scale.lowerBound)...\(scale.upperBound), ratio \(ratio.lowerBound)...\(ratio.upperBound))"
        case let .centre(resize):
            return "Resize(\(resize)) + CenterCrop"
        }
    }

    /// Where sample `index` of `epoch` reads from an original image of width x height to make size x size.
    func geometry(width: Int, height: Int, size: Int, seed: UInt64, epoch: Int, index: Int) -> SampleGeometry {
        switch self {
        case let .randomResized(scale, ratio):
            var rng = DataRandomKeys.stream(seed: seed, epoch: epoch, sampleIndex: index, salt: DataRandomKeys.resizedCrop)
            let box = Self.randomBox(width: width, height: height, scale: scale, ratio: ratio, rng: &rng)
            return SampleGeometry(
                horizontal: AxisMap(clipStart: box.left, clipEnd: box.left + box.width, in0: 0, in1: Float(box.width),
                                    outSize: size, firstOutput: 0, outputs: size),
                vertical: AxisMap(clipStart: box.top, clipEnd: box.top + box.height, in0: 0, in1: Float(box.height),
                                  outSize: size, firstOutput: 0, outputs: size))
        case let .centre(resize):
            precondition(resize >= size, "CropPolicy.centre: resize \(resize) is smaller than the crop \(size)")
            let (short, long) = (min(width, height), max(width, height))
            let newLong = Int(Double(resize * long) / Double(short))
            let (newWidth, newHeight) = width <= height ? (resize, newLong) : (newLong, resize)
            let left = Int((Double(newWidth - size) / 2).rounded(.toNearestOrEven))
            let top = Int((Double(newHeight - size) / 2).rounded(.toNearestOrEven))
            return SampleGeometry(
                horizontal: AxisMap(clipStart: 0, clipEnd: width, in0: 0, in1: Float(width), outSize: newWidth,
                                    firstOutput: left, outputs: size),
                vertical: AxisMap(clipStart: 0, clipEnd: height, in0: 0, in1: Float(height), outSize: newHeight,
                                  firstOutput: top, outputs: size))
        }
    }

    /// torchvision's RandomResizedCrop.get_params with keyed draws.
    static func randomBox(width: Int, height: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
                          rng: inout SplitMix64) -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Double(width * height)
        let logRatio = log(ratio.lowerBound)...log(ratio.upperBound)
        for _ in 0..<10 {
            let targetArea = area * uniform(scale, &rng)
            let aspect = exp(uniform(logRatio, &rng))
            let w = Int((targetArea * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((targetArea / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let top = rng.nextInt(below: height - h + 1)
                let left = rng.nextInt(below: width - w + 1)
                return (top, left, h, w)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return ((height - h) / 2, (width - w) / 2, h, w)
    }

    /// Uniform in [range.lowerBound, range.upperBound) with 53 random bits.
    private static func uniform(_ range: ClosedRange<Double>, _ rng: inout SplitMix64) -> Double {
        range.lowerBound + Double(rng.next() >> 11) * 0x1.0p-53 * (range.upperBound - range.lowerBound)
    }
}

/// One axis of a sample's geometry: input pixels clipStart ..< clipEnd may be read; the box
/// [clipStart + in0, clipStart + in1) is stretched onto outSize outputs, of which
/// firstOutput ..< firstOutput + outputs are produced.
struct AxisMap: Equatable {
    var clipStart: Int
    var clipEnd: Int
    var in0: Float
    var in1: Float
    var outSize: Int
    var firstOutput: Int
    var outputs: Int

    /// Input pixels per output pixel: above 1 the axis shrinks.
    var shrink: Double { Double(in1 - in0) / Double(outSize) }

    /// The same map on the axis decoded at `decoded` pixels instead of `original`.
    func scaled(original: Int, decoded: Int) -> AxisMap {
        guard decoded != original else { return self }
        let r = Double(decoded) / Double(original)
        let start = Int((Double(clipStart) * r).rounded(.down))
        let end = min(decoded, Int((Double(clipEnd) * r).rounded(.up)))
        let boxStart = (Double(clipStart) + Double(in0)) * r - Double(start)
        let boxEnd = (Double(clipStart) + Double(in1)) * r - Double(start)
        return AxisMap(clipStart: start, clipEnd: max(end, start + 1), in0: Float(boxStart), in1: Float(boxEnd),
                       outSize: outSize, firstOutput: firstOutput, outputs: outputs)
    }

    var resampleAxis: ResampleAxis {
        ResampleAxis(clipStart: clipStart, inSize: clipEnd - clipStart, in0: in0, in1: in1, outSize: outSize,
                     outputs: firstOutput..<(firstOutput + outputs))
    }
}

/// Both axes of one sample's geometry.
struct SampleGeometry: Equatable {
    var horizontal: AxisMap
    var vertical: AxisMap

    /// The geometry on an image decoded at decodedWidth x decodedHeight instead of width x height.
    func scaled(width: Int, height: Int, decodedWidth: Int, decodedHeight: Int) -> SampleGeometry {
        SampleGeometry(horizontal: horizontal.scaled(original: width, decoded: decodedWidth),
                       vertical: vertical.scaled(original: height, decoded: decodedHeight))
    }
}
