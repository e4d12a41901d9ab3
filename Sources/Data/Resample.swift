// Antialiased bilinear resampling of 8-bit interleaved images (HWC), computed as Pillow's
// Image.resize(size, BILINEAR, box) does it (libImaging/Resample.c), which is what torchvision's
// Resize and RandomResizedCrop run on PIL images, so the bytes agree with Pillow's:
//   - output pixel x of an axis has centre c = in0 + (x + 0.5) * scale, scale = (in1 - in0) / outSize;
//     the triangle filter is widened to support s = max(scale, 1) when shrinking (antialiasing);
//     its taps are the inputs trunc(c - s + 0.5) ..< trunc(c + s + 0.5), clipped to the input,
//     weighted triangle((i - c + 0.5) / s), normalised to sum 1 and rounded to 22-bit fixed point;
//   - a horizontal pass over the rows the vertical pass reads, rounded and clamped to bytes, then
//     a vertical pass, both accumulating in integers from 0.5 (round half up).
// An axis may produce only a window of its outputs (a centre crop of a resized image is the window
// of the resized image's outputs), and its input may be a span of a larger image (a crop box).

/// The taps of one axis: for each produced output, the first input index, the tap count and
/// `taps` fixed-point weights (unused ones zero).
struct ResampleAxis {
    let first: [Int]
    let count: [Int]
    let weights: [Int32]
    let taps: Int

    static let precisionBits: Int32 = 22

    /// The input is pixels clipStart ..< clipStart + inSize of the image; the box [in0, in1) (relative to
    /// clipStart) is stretched onto outSize outputs, of which `outputs` are produced.
    init(clipStart: Int, inSize: Int, in0: Float, in1: Float, outSize: Int, outputs: Range<Int>) {
        precondition(inSize > 0 && outSize > 0 && in1 > in0, "ResampleAxis: empty axis")
        precondition(outputs.lowerBound >= 0 && outputs.upperBound <= outSize, "ResampleAxis: outputs outside 0..<\(outSize)")
        let scale = Double(in1 - in0) / Double(outSize)  // the difference in Float, as Pillow's float box
        let filterScale = max(scale, 1)
        let support = filterScale  // the bilinear filter's support is 1
        let taps = Int(support.rounded(.up)) * 2 + 1
        var first = [Int](), count = [Int](), weights = [Int32](repeating: 0, count: outputs.count * taps)
        first.reserveCapacity(outputs.count)
        count.reserveCapacity(outputs.count)
        var k = [Double](repeating: 0, count: taps)
        for (n, x) in outputs.enumerated() {
            let centre = Double(in0) + (Double(x) + 0.5) * scale
            let low = max(Int(centre - support + 0.5), 0)
            let high = min(Int(centre + support + 0.5), inSize)
            var total = 0.0
            for t in 0..<(high - low) {
                let w = Self.triangle((Double(t + low) - centre + 0.5) / filterScale)
                k[t] = w
                total += w
            }
            for t in 0..<(high - low) {
                let w = total != 0 ? k[t] / total : k[t]
                let fixed = w * Double(1 << Self.precisionBits)
                weights[n * taps + t] = Int32(w < 0 ? fixed - 0.5 : fixed + 0.5)
            }
            first.append(clipStart + low)
            count.append(high - low)
        }
        self.first = first
        self.count = count
        self.weights = weights
        self.taps = taps
    }

    private static func triangle(_ x: Double) -> Double {
        let a = abs(x)
        return a < 1 ? 1 - a : 0
    }

    /// The input indices the outputs read: first[0] ..< first[last] + count[last] (centres increase).
    var inputSpan: Range<Int> { first[0]..<(first[first.count - 1] + count[count.count - 1]) }
}

enum Resample {
    /// Bytes of scratch `run` needs: the horizontally resampled rows.
    static func scratchBytes(horizontal: ResampleAxis, vertical: ResampleAxis, channels: Int) -> Int {
        horizontal.first.count * vertical.inputSpan.count * channels
    }

    /// Resamples `source` (rows of `sourceRowBytes` bytes, `channels` interleaved) into `output`
    /// (vertical.first.count rows of horizontal.first.count pixels, packed). `scratch` holds
    /// scratchBytes(...) bytes, `accumulator` one Int32 per output byte of a row.
    static func run(source: UnsafePointer<UInt8>, sourceRowBytes: Int, channels: Int,
                    horizontal: ResampleAxis, vertical: ResampleAxis,
                    scratch: UnsafeMutablePointer<UInt8>, accumulator: UnsafeMutablePointer<Int32>,
                    output: UnsafeMutablePointer<UInt8>) {
        let rows = vertical.inputSpan
        let outWidth = horizontal.first.count
        let rowBytes = outWidth * channels
        let half: Int32 = 1 << (ResampleAxis.precisionBits - 1)
        horizontal.weights.withUnsafeBufferPointer { weights in
            for (r, y) in rows.enumerated() {
                let row = source + y * sourceRowBytes
                let target = scratch + r * rowBytes
                for x in 0..<outWidth {
                    let k = weights.baseAddress! + x * horizontal.taps
                    var p = row + horizontal.first[x] * channels
                    if channels == 3 {
                        var s0 = half, s1 = half, s2 = half
                        for t in 0..<horizontal.count[x] {
                            let w = k[t]
                            s0 &+= Int32(p[0]) &* w
                            s1 &+= Int32(p[1]) &* w
                            s2 &+= Int32(p[2]) &* w
                            p += 3
                        }
                        target[x * 3] = clip(s0)
                        target[x * 3 + 1] = clip(s1)
                        target[x * 3 + 2] = clip(s2)
                    } else {
                        for c in 0..<channels {
                            var s = half
                            for t in 0..<horizontal.count[x] { s &+= Int32(p[t * channels + c]) &* k[t] }
                            target[x * channels + c] = clip(s)
                        }
                    }
                }
            }
        }
        vertical.weights.withUnsafeBufferPointer { weights in
            for y in 0..<vertical.first.count {
                let k = weights.baseAddress! + y * vertical.taps
                let firstRow = scratch + (vertical.first[y] - rows.lowerBound) * rowBytes
                accumulator.update(repeating: half, count: rowBytes)
                for t in 0..<vertical.count[y] {
                    let w = k[t]
                    let row = firstRow + t * rowBytes
                    for i in 0..<rowBytes { accumulator[i] &+= Int32(row[i]) &* w }
                }
                let target = output + y * rowBytes
                for i in 0..<rowBytes { target[i] = clip(accumulator[i]) }
            }
        }
    }

    @inline(__always)
    private static func clip(_ sum: Int32) -> UInt8 {
        UInt8(truncatingIfNeeded: min(max(sum >> ResampleAxis.precisionBits, 0), 255))
    }
}
