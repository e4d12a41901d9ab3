// Per-sample transforms from H x W x C bytes to H x W x C' floats (NHWC, one image):
//   1. random crop with zero padding (torchvision RandomCrop((H, W), padding=P)): pad P pixels of
//      value 0 on every side, cut an H x W window at a random offset in 0...2P on each axis;
//   2. random horizontal flip with p = 0.5 (torchvision RandomHorizontalFlip);
//   3. optionally TrivialAugmentWide (torchvision's, on the bytes as PIL sees them; see TrivialAugment.swift);
//   4. channel replication: a 1-channel source may be written as C' = 3 identical channels;
//   5. normalisation (x / 255 - mean) / std per channel, computed in Float32 in that order as
//      torchvision's ToTensor + Normalize do, through a 256-entry table per output channel.
// Without TrivialAugmentWide one pass does all of it; with it, crop and flip write bytes for the op,
// whose output is then normalised. Padding happens before normalisation, so padded pixels read as
// byte 0. Random draws are keyed by (seed, epoch, sample index) (see DataRandomKeys), so a sample's
// augmentation is the same whatever batch, thread or rank it lands in.

/// Which random augmentations to apply to training samples.
public struct Augmentation: Sendable, Equatable {
    /// P of RandomCrop(size, padding: P); 0 turns random cropping off.
    public var cropPadding: Int
    public var horizontalFlip: Bool
    /// torchvision's TrivialAugmentWide() after crop and flip (1- and 3-channel images).
    public var trivialAugment: Bool

    public init(cropPadding: Int = 0, horizontalFlip: Bool = false, trivialAugment: Bool = false) {
        precondition(cropPadding >= 0, "Augmentation: negative crop padding")
        self.cropPadding = cropPadding
        self.horizontalFlip = horizontalFlip
        self.trivialAugment = trivialAugment
    }

    /// No augmentation (evaluation).
    public static let none = Augmentation()
}

/// The random choices made for one sample.
public struct AugmentationDraw: Sendable, Equatable {
    /// Top-left corner of the crop window in the padded image, each in 0...2P.
    public let cropTop: Int
    public let cropLeft: Int
    public let flipped: Bool
    /// The TrivialAugmentWide op and magnitude, nil when that augmentation is off.
    public let trivialAugment: TrivialAugmentDraw?

    init(cropTop: Int, cropLeft: Int, flipped: Bool, trivialAugment: TrivialAugmentDraw? = nil) {
        self.cropTop = cropTop
        self.cropLeft = cropLeft
        self.flipped = flipped
        self.trivialAugment = trivialAugment
    }
}

/// Everything needed to turn one source image into network input.
public struct SampleTransform: Sendable {
    public let height: Int
    public let width: Int
    public let inputChannels: Int
    public let outputChannels: Int
    public let normalization: Normalization
    public let augmentation: Augmentation
    public let seed: UInt64
    /// lookup[c * 256 + v] = (Float(v) / 255 - mean[c]) / std[c] for output channel c.
    private let lookup: [Float]

    /// Why images of `inputChannels` cannot feed a model of `outputChannels` (one line for the
    /// user), or nil when they can: the same count, or 1-channel images repeated.
    public static func channelMismatch(inputChannels: Int, outputChannels: Int, data: String) -> String? {
        if outputChannels == inputChannels || inputChannels == 1 { return nil }
        return "\(data) has \(inputChannels)-channel images; a model with \(outputChannels) input channel(s) cannot take them "
            + "(only 1-channel images are repeated to more channels)"
    }

    /// `outputChannels` equals `inputChannels`, or is any count when the source has 1 channel
    /// (replicated). `normalization` has 1 value (all channels), `inputChannels` or `outputChannels` values.
    public init(height: Int, width: Int, inputChannels: Int, outputChannels: Int,
                normalization: Normalization, augmentation: Augmentation = .none, seed: UInt64 = 0) {
        precondition(height > 0 && width > 0 && inputChannels > 0, "SampleTransform: empty image")
        precondition(outputChannels == inputChannels || inputChannels == 1,
                     "SampleTransform: cannot map \(inputChannels) channels to \(outputChannels)")
        let statCount = normalization.mean.count
        precondition([1, inputChannels, outputChannels].contains(statCount),
                     "SampleTransform: normalization has \(statCount) channels for \(inputChannels) -> \(outputChannels)")
        precondition(!augmentation.trivialAugment || inputChannels == 1 || inputChannels == 3,
                     "SampleTransform: TrivialAugmentWide takes 1- or 3-channel images, not \(inputChannels)")
        self.height = height
        self.width = width
        self.inputChannels = inputChannels
        self.outputChannels = outputChannels
        self.normalization = normalization
        self.augmentation = augmentation
        self.seed = seed
        lookup = (0..<outputChannels).flatMap { c -> [Float] in
            let stat = statCount == 1 ? 0 : c  // statCount > 1 means statCount == outputChannels
            let mean = normalization.mean[stat], std = normalization.std[stat]
            return (0..<256).map { v in (Float(v) / 255 - mean) / std }
        }
    }

    /// A transform for the images of `source`, keeping its channel count unless told otherwise.
    public init(for source: any ImageSource, outputChannels: Int? = nil, normalization: Normalization,
                augmentation: Augmentation = .none, seed: UInt64 = 0) {
        self.init(height: source.height, width: source.width, inputChannels: source.channels,
                  outputChannels: outputChannels ?? source.channels, normalization: normalization,
                  augmentation: augmentation, seed: seed)
    }

    /// Floats written per sample: height * width * outputChannels.
    public var outputCount: Int { height * width * outputChannels }

    /// The normalised value of byte `value` in output channel `channel`.
    public func normalized(_ value: UInt8, channel: Int) -> Float {
        lookup[channel * 256 + Int(value)]
    }

    /// The crop offset, flip and TrivialAugmentWide op chosen for sample `sampleIndex` in `epoch`.
    public func draw(epoch: Int, sampleIndex: Int) -> AugmentationDraw {
        let padding = augmentation.cropPadding
        var top = padding, left = padding  // no crop: the window sits on the original image
        if padding > 0 {
            var rng = DataRandomKeys.stream(seed: seed, epoch: epoch, sampleIndex: sampleIndex, salt: DataRandomKeys.crop)
            top = rng.nextInt(below: 2 * padding + 1)
            left = rng.nextInt(below: 2 * padding + 1)
        }
        var flipped = false
        if augmentation.horizontalFlip {
            var rng = DataRandomKeys.stream(seed: seed, epoch: epoch, sampleIndex: sampleIndex, salt: DataRandomKeys.flip)
            flipped = rng.nextUniform() < 0.5
        }
        var trivialAugment: TrivialAugmentDraw?
        if augmentation.trivialAugment {
            var rng = DataRandomKeys.stream(seed: seed, epoch: epoch, sampleIndex: sampleIndex, salt: DataRandomKeys.trivialAugment)
            trivialAugment = .random(using: &rng)
        }
        return AugmentationDraw(cropTop: top, cropLeft: left, flipped: flipped, trivialAugment: trivialAugment)
    }

    /// Transforms one image (height * width * inputChannels bytes) into `output` (outputCount floats).
    public func apply(_ image: UnsafePointer<UInt8>, epoch: Int, sampleIndex: Int, into output: UnsafeMutablePointer<Float>) {
        let choice = draw(epoch: epoch, sampleIndex: sampleIndex)
        guard choice.trivialAugment != nil else { return normalize(image, choice: choice, into: output) }
        let byteCount = height * width * inputChannels
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: byteCount) { augmented in
            augmentedBytes(image, choice: choice, into: augmented.baseAddress!)
            let uncropped = AugmentationDraw(cropTop: augmentation.cropPadding, cropLeft: augmentation.cropPadding, flipped: false)
            normalize(augmented.baseAddress!, choice: uncropped, into: output)
        }
    }

    /// Crop, flip and the TrivialAugmentWide op of `choice`, in that order, from `image` to `output` bytes.
    func augmentedBytes(_ image: UnsafePointer<UInt8>, choice: AugmentationDraw, into output: UnsafeMutablePointer<UInt8>) {
        let byteCount = height * width * inputChannels
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: byteCount) { cropped in
            let cropped = cropped.baseAddress!
            let rowShift = choice.cropTop - augmentation.cropPadding, columnShift = choice.cropLeft - augmentation.cropPadding
            for y in 0..<height {
                for x in 0..<width {
                    let sourceY = y + rowShift, sourceX = (choice.flipped ? width - 1 - x : x) + columnShift
                    let target = cropped + (y * width + x) * inputChannels
                    if sourceY >= 0 && sourceY < height && sourceX >= 0 && sourceX < width {
                        target.update(from: image + (sourceY * width + sourceX) * inputChannels, count: inputChannels)
                    } else {
                        target.update(repeating: 0, count: inputChannels)
                    }
                }
            }
            let operation = choice.trivialAugment ?? TrivialAugmentDraw(op: .identity)
            operation.apply(to: cropped, height: height, width: width, channels: inputChannels, into: output)
        }
    }

    /// Crops, flips and normalises `image` as `choice` says, in one pass.
    private func normalize(_ image: UnsafePointer<UInt8>, choice: AugmentationDraw, into output: UnsafeMutablePointer<Float>) {
        let padding = augmentation.cropPadding
        let rowShift = choice.cropTop - padding, columnShift = choice.cropLeft - padding
        // Output column x reads source column firstColumn + step * x; [inside] are the x that land in the image.
        let step = choice.flipped ? -1 : 1
        let firstColumn = (choice.flipped ? width - 1 : 0) + columnShift
        let lower = max(0, choice.flipped ? firstColumn - width + 1 : -firstColumn)
        let upper = min(width, choice.flipped ? firstColumn + 1 : width - firstColumn)
        let inside = lower..<max(lower, upper)  // empty when the window lies wholly in the padding
        let inC = inputChannels, outC = outputChannels
        let channelStep = inC == 1 ? 0 : 1  // a 1-channel source feeds every output channel
        lookup.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            for y in 0..<height {
                let outputRow = output + y * width * outC
                let sourceY = y + rowShift
                guard sourceY >= 0 && sourceY < height && !inside.isEmpty else {
                    writePadding(outputRow, pixels: width, table: table)
                    continue
                }
                writePadding(outputRow, pixels: inside.lowerBound, table: table)
                var source = image + (sourceY * width + firstColumn + step * inside.lowerBound) * inC
                var target = outputRow + inside.lowerBound * outC
                if outC == 1 {  // the common case, without the channel loop
                    for _ in inside {
                        target.pointee = table[Int(source.pointee)]
                        source += step
                        target += 1
                    }
                } else if outC == 3 {  // RGB, or grayscale replicated (channelStep 0)
                    let (second, third) = (channelStep, 2 * channelStep)
                    for _ in inside {
                        target[0] = table[Int(source[0])]
                        target[1] = table[256 + Int(source[second])]
                        target[2] = table[512 + Int(source[third])]
                        source += step * inC
                        target += 3
                    }
                } else {
                    for _ in inside {
                        for c in 0..<outC { target[c] = table[c * 256 + Int(source[c * channelStep])] }
                        source += step * inC
                        target += outC
                    }
                }
                writePadding(outputRow + inside.upperBound * outC, pixels: width - inside.upperBound, table: table)
            }
        }
    }

    /// Writes `pixels` padding pixels (byte 0 through the normalisation) at `target`.
    private func writePadding(_ target: UnsafeMutablePointer<Float>, pixels: Int, table: UnsafePointer<Float>) {
        for p in 0..<pixels {
            for c in 0..<outputChannels { target[p * outputChannels + c] = table[c * 256] }
        }
    }
}
