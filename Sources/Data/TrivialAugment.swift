// TrivialAugmentWide as torchvision applies it to PIL images: torchvision.transforms.TrivialAugmentWide() with its
// defaults (31 magnitude bins, nearest interpolation, fill None) on mode "L" (1 channel) and "RGB" (3 channels)
// uint8 images, bitwise equal to torchvision + Pillow (checked against scripts/trivial_augment_fixtures.py's output).
// Each op repeats the arithmetic of the code it ends in, because nearest-neighbour sampling and 8-bit truncation
// turn the smallest rounding difference into a different pixel:
//   - magnitudes are Float32 like torch's tensors, computed as torch.linspace's AVX2 and AVX-512 CPU kernels do,
//     with fused multiply-adds (start + step * i for the first half, end - step * (30 - i) for the second): its
//     plain kernel differs in the last bit at a few bins, e.g. TranslateX bin 15 is 15.999999, int() 15 pixels;
//   - ShearX/Y and TranslateX/Y build torchvision's inverse affine matrix (_get_inverse_affine_matrix) in Double,
//     shearing about the corner (0, 0) by atan(magnitude) and translating by int(magnitude) pixels;
//   - Rotate is PIL's Image.rotate: Python's angle % 360, a copy at 0 degrees, exact transposes at 180 and (square
//     images) 90 and 270, otherwise a matrix rounded to 15 decimals (round(x, 15)) about the centre (w/2, h/2);
//   - Pillow samples a matrix without rotation or shear terms with ImagingScaleAffine (pixel centres accumulated in
//     Double) and any other with affine_fixed (16.16 fixed point); pixels mapped from outside keep the fill, 0;
//   - Brightness, Color, Contrast and Sharpness are ImageEnhance, i.e. ImagingBlend(degenerate, image,
//     Float32(1 + magnitude)) in Float32, truncating, and clamping only for factors outside [0, 1]. Color's grey and
//     Contrast's are Pillow's L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 (a grey image is its own degenerate
//     for Color); Contrast blends with the grey mean rounded half up; Sharpness with the SMOOTH 3x3 filter (weights
//     1/13 and 5/13 in Float32, + 0.5, truncated) whose border rows and columns are the image's own;
//   - Posterize, Solarize, AutoContrast and Equalize are ImageOps lookup tables, per channel for the last two.

import Foundation
import Randomness

/// The 14 ops of TrivialAugmentWide in torchvision's order (the index its random draw picks).
public enum TrivialAugmentOp: Int, CaseIterable, Sendable {
    case identity, shearX, shearY, translateX, translateY, rotate
    case brightness, color, contrast, sharpness, posterize, solarize, autoContrast, equalize

    /// TrivialAugmentWide's default num_magnitude_bins.
    public static let binCount = 31

    /// torchvision's `_augmentation_space(31)` for this op: binCount values, empty for ops without a magnitude.
    public var magnitudes: [Float] { Self.magnitudeTable[rawValue] }

    /// Whether a draw negates the magnitude half of the time.
    public var isSigned: Bool {
        switch self {
        case .shearX, .shearY, .translateX, .translateY, .rotate, .brightness, .color, .contrast, .sharpness: true
        case .identity, .posterize, .solarize, .autoContrast, .equalize: false
        }
    }

    private static let magnitudeTable: [[Float]] = allCases.map { op in
        switch op {
        case .identity, .autoContrast, .equalize: []
        case .shearX, .shearY, .brightness, .color, .contrast, .sharpness: linspace(0, 0.99)
        case .translateX, .translateY: linspace(0, 32)
        case .rotate: linspace(0, 135)
        // 8 - (arange(31) / 5.0).round().int(): a Float32 division, rounded half to even.
        case .posterize: (0..<binCount).map { 8 - (Float($0) / 5).rounded(.toNearestOrEven) }
        case .solarize: linspace(255, 0)
        }
    }

    /// torch.linspace(start, end, binCount) in Float32 as its AVX2 and AVX-512 CPU kernels compute it.
    private static func linspace(_ start: Float, _ end: Float) -> [Float] {
        let step = (end - start) / Float(binCount - 1)
        return (0..<binCount).map { i in
            i < binCount / 2 ? start.addingProduct(step, Float(i)) : end.addingProduct(-step, Float(binCount - 1 - i))
        }
    }
}

/// One TrivialAugmentWide choice: an op and the magnitude torchvision passes to it.
public struct TrivialAugmentDraw: Sendable, Equatable {
    public let op: TrivialAugmentOp
    /// A value of op.magnitudes (a Float32 widened to Double, as Python sees it), negated for negative draws; 0 for
    /// ops without magnitudes.
    public let magnitude: Double

    public init(op: TrivialAugmentOp, bin: Int = 0, negative: Bool = false) {
        precondition(op.isSigned || !negative, "TrivialAugmentDraw: \(op) has no sign")
        let magnitudes = op.magnitudes
        let value = magnitudes.isEmpty ? 0 : Double(magnitudes[bin])
        self.op = op
        self.magnitude = negative ? -value : value
    }

    /// TrivialAugmentWide.forward's draws in its order: the op, a bin if the op has magnitudes, a sign if it is signed.
    public static func random(using rng: inout SplitMix64) -> TrivialAugmentDraw {
        let op = TrivialAugmentOp(rawValue: rng.nextInt(below: TrivialAugmentOp.allCases.count))!
        let bin = op.magnitudes.isEmpty ? 0 : rng.nextInt(below: op.magnitudes.count)
        let negative = op.isSigned && rng.nextInt(below: 2) == 1
        return TrivialAugmentDraw(op: op, bin: bin, negative: negative)
    }

    /// Applies the op to `image` (height x width x channels bytes, channels 1 or 3) and writes as many bytes to
    /// `output`, which must not overlap it.
    public func apply(to image: UnsafePointer<UInt8>, height: Int, width: Int, channels: Int,
                      into output: UnsafeMutablePointer<UInt8>) {
        precondition(channels == 1 || channels == 3, "TrivialAugment: images have 1 or 3 channels, not \(channels)")
        // Beyond 8191 pixels a side Pillow may leave 16.16 fixed point for a Double path not mirrored here.
        precondition(height > 0 && width > 0 && max(height, width) < 8192, "TrivialAugment: \(height) x \(width) image")
        let image = ByteImage(pixels: image, height: height, width: width, channels: channels)
        let shear = atan(magnitude) * (180 / Double.pi)  // math.degrees(math.atan(magnitude))
        let pixels = Double(Int(magnitude))  // int(magnitude)
        switch op {
        case .identity: output.update(from: image.pixels, count: image.count)
        case .shearX: affine(image, inverseAffineMatrix(center: (0, 0), translate: (0, 0), shear: (shear, 0)), into: output)
        case .shearY: affine(image, inverseAffineMatrix(center: (0, 0), translate: (0, 0), shear: (0, shear)), into: output)
        case .translateX: affine(image, inverseAffineMatrix(center: image.center, translate: (pixels, 0), shear: (0, 0)), into: output)
        case .translateY: affine(image, inverseAffineMatrix(center: image.center, translate: (0, pixels), shear: (0, 0)), into: output)
        case .rotate: rotate(image, degrees: magnitude, into: output)
        case .brightness:
            output.update(repeating: 0, count: image.count)
            blend(image, factor: 1 + magnitude, degenerate: output)
        case .color:
            writeGrey(image, into: output)
            blend(image, factor: 1 + magnitude, degenerate: output)
        case .contrast:
            output.update(repeating: UInt8(meanGrey(image) + 0.5), count: image.count)
            blend(image, factor: 1 + magnitude, degenerate: output)
        case .sharpness:
            smooth(image, into: output)
            blend(image, factor: 1 + magnitude, degenerate: output)
        case .posterize:
            let mask = UInt8(truncatingIfNeeded: ~((1 << (8 - Int(magnitude))) - 1))
            lookUp(image, table: { _ in (0...255).map { UInt8($0) & mask } }, into: output)
        case .solarize:
            lookUp(image, table: { _ in (0...255).map { Double($0) < magnitude ? UInt8($0) : 255 - UInt8($0) } }, into: output)
        case .autoContrast: lookUp(image, table: autoContrastTable, into: output)
        case .equalize: lookUp(image, table: equalizeTable, into: output)
        }
    }
}

/// An H x W x C byte image, pixel (x, y) at (y * width + x) * channels.
private struct ByteImage {
    let pixels: UnsafePointer<UInt8>
    let height: Int
    let width: Int
    let channels: Int

    var count: Int { height * width * channels }
    /// torchvision's default affine centre, [width * 0.5, height * 0.5].
    var center: (x: Double, y: Double) { (Double(width) * 0.5, Double(height) * 0.5) }
}

// MARK: Geometry

/// torchvision's _get_inverse_affine_matrix(center, angle 0, translate, scale 1, shear in degrees), operation for
/// operation: the matrix Pillow maps output pixel centres through to input coordinates.
private func inverseAffineMatrix(center: (x: Double, y: Double), translate: (x: Double, y: Double),
                                 shear: (x: Double, y: Double)) -> [Double] {
    let radiansPerDegree = Double.pi / 180  // math.radians
    let rotation = 0.0
    let sx = shear.x * radiansPerDegree, sy = shear.y * radiansPerDegree
    let a = cos(rotation - sy) / cos(sy)
    let b = -cos(rotation - sy) * tan(sx) / cos(sy) - sin(rotation)
    let c = sin(rotation - sy) / cos(sy)
    let d = -sin(rotation - sy) * tan(sx) / cos(sy) + cos(rotation)
    var matrix = [d, -b, 0, -c, a, 0]
    let (dx, dy) = (-center.x - translate.x, -center.y - translate.y)
    matrix[2] += matrix[0] * dx + matrix[1] * dy
    matrix[5] += matrix[3] * dx + matrix[4] * dy
    matrix[2] += center.x
    matrix[5] += center.y
    return matrix
}

/// PIL's Image.rotate(degrees, NEAREST, fillcolor=0) without expand, about the image centre.
private func rotate(_ image: ByteImage, degrees: Double, into output: UnsafeMutablePointer<UInt8>) {
    var angle = fmod(degrees, 360)  // Python's %: the remainder takes the divisor's sign
    if angle < 0 { angle += 360 }
    let (w, h) = (image.width, image.height)
    switch angle {
    case 0: output.update(from: image.pixels, count: image.count)
    case 180: remap(image, into: output) { x, y in (w - 1 - x, h - 1 - y) }
    case 90 where w == h: remap(image, into: output) { x, y in (w - 1 - y, x) }  // Transpose.ROTATE_90
    case 270 where w == h: remap(image, into: output) { x, y in (y, h - 1 - x) }  // Transpose.ROTATE_270
    default:
        let radians = -(angle * (Double.pi / 180))
        var matrix = [roundedTo15Decimals(cos(radians)), roundedTo15Decimals(sin(radians)), 0,
                      roundedTo15Decimals(-sin(radians)), roundedTo15Decimals(cos(radians)), 0]
        let (cx, cy) = (Double(w) / 2, Double(h) / 2)
        let (x, y) = (matrix[0] * -cx + matrix[1] * -cy + matrix[2], matrix[3] * -cx + matrix[4] * -cy + matrix[5])
        matrix[2] = x + cx
        matrix[5] = y + cy
        affine(image, matrix, into: output)
    }
}

/// Python's round(x, 15): the nearest number with 15 decimals, both conversions correctly rounded as CPython's are.
private func roundedTo15Decimals(_ x: Double) -> Double {
    Double(String(format: "%.15f", x))!
}

/// Image.transform(size, AFFINE, a, NEAREST, fillcolor=0): output pixel centre (x + 0.5, y + 0.5) maps through
/// the matrix to an input position, whose pixel it copies; computed as ImagingTransformAffine does for 8-bit images.
private func affine(_ image: ByteImage, _ a: [Double], into output: UnsafeMutablePointer<UInt8>) {
    if a[1] == 0 && a[3] == 0 {
        // ImagingScaleAffine: the first centre, then one step per column or row, in Double, truncated (< 0: outside).
        func coordinates(first: Double, step: Double, count: Int) -> [Int] {
            var position = first
            return (0..<count).map { _ in
                defer { position += step }
                return position < 0 ? -1 : Int(position)
            }
        }
        let columns = coordinates(first: a[2] + a[0] * 0.5, step: a[0], count: image.width)
        let rows = coordinates(first: a[5] + a[4] * 0.5, step: a[4], count: image.height)
        remap(image, into: output) { x, y in (columns[x], rows[y]) }
    } else {
        // affine_fixed: 16.16 fixed point, FLOOR(v * 65536 + 0.5); the source is the integer part (>> 16).
        func fixed(_ v: Double) -> Int { Int((v * 65536.0 + 0.5).rounded(.down)) }
        let (a0, a1, a3, a4) = (fixed(a[0]), fixed(a[1]), fixed(a[3]), fixed(a[4]))
        let a2 = fixed(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = fixed(a[5] + a[3] * 0.5 + a[4] * 0.5)
        remap(image, into: output) { x, y in ((a2 + y * a1 + x * a0) >> 16, (a5 + y * a4 + x * a3) >> 16) }
    }
}

/// Output pixel (x, y) copies input pixel source(x, y); one that falls outside the image gets the fill, 0.
private func remap(_ image: ByteImage, into output: UnsafeMutablePointer<UInt8>,
                   source: (_ x: Int, _ y: Int) -> (x: Int, y: Int)) {
    let channels = image.channels
    for y in 0..<image.height {
        for x in 0..<image.width {
            let (sourceX, sourceY) = source(x, y)
            let target = output + (y * image.width + x) * channels
            guard sourceX >= 0 && sourceX < image.width && sourceY >= 0 && sourceY < image.height else {
                target.update(repeating: 0, count: channels)
                continue
            }
            target.update(from: image.pixels + (sourceY * image.width + sourceX) * channels, count: channels)
        }
    }
}

// MARK: ImageEnhance

/// ImagingBlend(degenerate, image, Float32(factor)) in place: `degenerate` holds the degenerate image and receives
/// degenerate + alpha * (image - degenerate) in Float32, truncated, clamped to 0...255 only when extrapolating.
private func blend(_ image: ByteImage, factor: Double, degenerate: UnsafeMutablePointer<UInt8>) {
    let alpha = Float(factor)
    let extrapolates = !(alpha >= 0 && alpha <= 1)
    for i in 0..<image.count {
        let value = Float(degenerate[i]) + alpha * Float(Int(image.pixels[i]) - Int(degenerate[i]))
        degenerate[i] = extrapolates ? (value <= 0 ? 0 : value >= 255 ? 255 : UInt8(value)) : UInt8(value)
    }
}

/// Pillow's RGB to L conversion (ITU-R 601-2 luma in 16.16 fixed point).
private func grey(_ pixel: UnsafePointer<UInt8>) -> UInt8 {
    let (r, g, b) = (Int(pixel[0]), Int(pixel[1]), Int(pixel[2]))
    let luma: Int = r * 19595 + g * 38470 + b * 7471 + 0x8000
    return UInt8(luma >> 16)
}

/// ImageEnhance.Color's degenerate: image.convert("L").convert(image.mode), the image itself when it is grey.
private func writeGrey(_ image: ByteImage, into output: UnsafeMutablePointer<UInt8>) {
    guard image.channels == 3 else { return output.update(from: image.pixels, count: image.count) }
    for p in 0..<image.height * image.width {
        (output + 3 * p).update(repeating: grey(image.pixels + 3 * p), count: 3)
    }
}

/// ImageStat.Stat(image.convert("L")).mean[0]: the histogram's sum over its count.
private func meanGrey(_ image: ByteImage) -> Double {
    let pixels = image.height * image.width
    let sum = (0..<pixels).reduce(0) { sum, p in
        sum + Int(image.channels == 3 ? grey(image.pixels + 3 * p) : image.pixels[p])
    }
    return Double(sum) / Double(pixels)
}

/// image.filter(ImageFilter.SMOOTH) (ImagingFilter3x3, kernel 1 1 1 / 1 5 1 / 1 1 1 over 13): each channel's
/// weighted rows summed in Float32 onto 0.5, bottom row first, clamped and truncated; the border is copied.
private func smooth(_ image: ByteImage, into output: UnsafeMutablePointer<UInt8>) {
    output.update(from: image.pixels, count: image.count)
    guard image.height >= 3 && image.width >= 3 else { return }  // smaller than the kernel: a copy
    let (side, centre) = (Float(1) / 13, Float(5) / 13)
    let (width, channels) = (image.width, image.channels)
    for y in 1..<(image.height - 1) {
        for x in 1..<(width - 1) {
            for c in 0..<channels {
                func row(_ r: Int, middle: Float) -> Float {
                    let left = image.pixels + (r * width + x - 1) * channels + c
                    return Float(left[0]) * side + Float(left[channels]) * middle + Float(left[2 * channels]) * side
                }
                var sum: Float = 0.5
                sum += row(y + 1, middle: side)
                sum += row(y, middle: centre)
                sum += row(y - 1, middle: side)
                output[(y * width + x) * channels + c] = UInt8(min(max(sum, 0), 255))
            }
        }
    }
}

// MARK: ImageOps

/// Image.point with table(histogram of channel c) applied to channel c.
private func lookUp(_ image: ByteImage, table: (_ histogram: [Int]) -> [UInt8], into output: UnsafeMutablePointer<UInt8>) {
    let channels = image.channels
    var histograms = [[Int]](repeating: [Int](repeating: 0, count: 256), count: channels)
    for i in 0..<image.count { histograms[i % channels][Int(image.pixels[i])] += 1 }
    let tables = histograms.map(table)
    for i in 0..<image.count { output[i] = tables[i % channels][Int(image.pixels[i])] }
}

/// ImageOps.autocontrast (cutoff 0): the lowest and highest present values stretched to 0 and 255.
private func autoContrastTable(_ histogram: [Int]) -> [UInt8] {
    guard let low = histogram.firstIndex(where: { $0 > 0 }), let high = histogram.lastIndex(where: { $0 > 0 }),
          high > low else { return (0...255).map { UInt8($0) } }
    let scale = 255 / Double(high - low), offset = -Double(low) * scale
    return (0...255).map { UInt8(clamping: Int(Double($0) * scale + offset)) }
}

/// ImageOps.equalize: each value maps to the count of pixels below it, in steps of (count - last bin's) / 255.
private func equalizeTable(_ histogram: [Int]) -> [UInt8] {
    let present = histogram.filter { $0 > 0 }
    let step = present.count > 1 ? (present.reduce(0, +) - present.last!) / 255 : 0
    guard step > 0 else { return (0...255).map { UInt8($0) } }
    var below = step / 2
    return histogram.map { count in
        defer { below += count }
        return UInt8(min(below / step, 255))
    }
}
