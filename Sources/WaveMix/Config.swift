// The model's configuration: the official WaveMix constructor's arguments (same names in JSON) plus
// `in_chans` (the official stem hard-codes 3), and the check that a configuration fits an image size.

public enum Stem: String, Codable, Sendable, CaseIterable {
    /// conv3x3(in -> c/2, stride s) then conv3x3(c/2 -> c, stride s): the WaveMix-Lite stem.
    case strided
    /// conv3x3(in -> c/4), conv3x3(c/4 -> c/2), conv(c/2 -> c, kernel = stride = patch), GELU, BatchNorm.
    case pachify
}

public struct WaveMixConfig: Codable, Equatable, Sendable {
    public var numClasses: Int
    public var depth: Int
    public var mult: Int
    public var ffChannel: Int
    public var finalDim: Int
    public var dropout: Double
    public var level: Int
    public var initialConv: Stem
    public var patchSize: Int
    public var stride: Int
    public var inChans: Int

    /// The official constructor's defaults (ImageNet WaveMix-192/16, level 3) with 3 input channels.
    public init(numClasses: Int = 1000, depth: Int = 16, mult: Int = 2, ffChannel: Int = 192, finalDim: Int = 192,
                dropout: Double = 0.5, level: Int = 3, initialConv: Stem = .pachify, patchSize: Int = 4, stride: Int = 2,
                inChans: Int = 3) {
        self.numClasses = numClasses; self.depth = depth; self.mult = mult; self.ffChannel = ffChannel
        self.finalDim = finalDim; self.dropout = dropout; self.level = level; self.initialConv = initialConv
        self.patchSize = patchSize; self.stride = stride; self.inChans = inChans
    }

    enum CodingKeys: String, CodingKey {
        case numClasses = "num_classes", depth, mult, ffChannel = "ff_channel", finalDim = "final_dim", dropout, level
        case initialConv = "initial_conv", patchSize = "patch_size", stride, inChans = "in_chans"
    }

    /// Missing keys take the official defaults (in_chans 3), so an official constructor call's
    /// arguments written as JSON load as they are.
    public init(from decoder: Decoder) throws {
        let d = WaveMixConfig()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? d.numClasses
        depth = try c.decodeIfPresent(Int.self, forKey: .depth) ?? d.depth
        mult = try c.decodeIfPresent(Int.self, forKey: .mult) ?? d.mult
        ffChannel = try c.decodeIfPresent(Int.self, forKey: .ffChannel) ?? d.ffChannel
        finalDim = try c.decodeIfPresent(Int.self, forKey: .finalDim) ?? d.finalDim
        dropout = try c.decodeIfPresent(Double.self, forKey: .dropout) ?? d.dropout
        level = try c.decodeIfPresent(Int.self, forKey: .level) ?? d.level
        initialConv = try c.decodeIfPresent(Stem.self, forKey: .initialConv) ?? d.initialConv
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
        stride = try c.decodeIfPresent(Int.self, forKey: .stride) ?? d.stride
        inChans = try c.decodeIfPresent(Int.self, forKey: .inChans) ?? d.inChans
    }

    /// Spatial size after the stem for an input of height x width.
    public func stemOutputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        switch initialConv {
        case .strided:
            let once = { (s: Int) in (s - 1) / stride + 1 }  // conv3x3, pad 1
            return (once(once(height)), once(once(width)))
        case .pachify:
            return (height / patchSize, width / patchSize)
        }
    }

    /// Throws a one-line explanation if the official model would fail (or be meaningless) with
    /// this configuration on height x width inputs.
    public func validate(height: Int, width: Int) throws(ConfigError) {
        func fail(_ s: String) -> ConfigError { ConfigError(message: s) }
        guard numClasses >= 1 else { throw fail("num_classes must be at least 1 (got \(numClasses))") }
        guard depth >= 0 else { throw fail("depth must be 0 or more (got \(depth))") }
        guard mult >= 1 else { throw fail("mult must be at least 1 (got \(mult))") }
        guard ffChannel >= 1 else { throw fail("ff_channel must be at least 1 (got \(ffChannel))") }
        guard inChans >= 1 else { throw fail("in_chans must be at least 1 (got \(inChans))") }
        guard (1...4).contains(level) else { throw fail("level must be 1, 2, 3 or 4 (got \(level))") }
        guard finalDim >= 4, finalDim % 4 == 0 else {
            throw fail("final_dim must be a positive multiple of 4 (the wave blocks reduce it to final_dim/4 channels); got \(finalDim)")
        }
        guard (0..<1).contains(dropout) else { throw fail("dropout must be in [0, 1) (got \(dropout))") }
        switch initialConv {
        case .strided: guard stride >= 1 else { throw fail("stride must be at least 1 (got \(stride))") }
        case .pachify: guard patchSize >= 1 else { throw fail("patch_size must be at least 1 (got \(patchSize))") }
        }
        guard height >= 1, width >= 1 else { throw fail("image size must be positive (got \(height)x\(width))") }
        let (h, w) = stemOutputSize(height: height, width: width)
        let unit = 1 << level
        guard h >= unit, w >= unit, h % unit == 0, w % unit == 0 else {
            let stemText = initialConv == .strided ? "the strided stem (stride \(stride))" : "the pachify stem (patch \(patchSize))"
            let fitting = (1...4).filter { h >= (1 << $0) && w >= (1 << $0) && h % (1 << $0) == 0 && w % (1 << $0) == 0 }
            let hint = fitting.isEmpty
                ? "no level fits; choose an image size or stem whose output is a multiple of \(unit)"
                : "use level \(fitting.map(String.init).joined(separator: " or ")), or an image size whose stem output is a multiple of \(unit)"
            throw fail("level \(level) halves the \(h)x\(w) output of \(stemText) \(level) times, so it must be a multiple of \(unit) on both sides (input \(height)x\(width)); \(hint)")
        }
    }
}

public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
}

extension WaveMixConfig {
    /// Named shapes from the paper and the official examples. Lite shapes are level-1 models with the
    /// strided stem at stride 1 (the official WaveMix-Lite), for small images.
    public static let presets: [String: WaveMixConfig] = [
        "lite-64-4": lite(finalDim: 64, depth: 4),
        "lite-128-7": lite(finalDim: 128, depth: 7),
        "lite-256-7": lite(finalDim: 256, depth: 7),
        "lite-256-16": lite(finalDim: 256, depth: 16),
        // ImageNet WaveMix-192/16, level 3 (paper: 74.93% top-1 at 224x224).
        "imagenet-192-16": WaveMixConfig(numClasses: 1000, depth: 16, mult: 2, ffChannel: 192, finalDim: 192, dropout: 0.5,
                                         level: 3, initialConv: .pachify, patchSize: 4, stride: 2, inChans: 3),
        // Places-365 WaveMix-240/12, level 4.
        "places365-240-12": WaveMixConfig(numClasses: 365, depth: 12, mult: 2, ffChannel: 240, finalDim: 240, dropout: 0.5,
                                          level: 4, initialConv: .pachify, patchSize: 4, stride: 2, inChans: 3),
    ]

    static func lite(finalDim: Int, depth: Int) -> WaveMixConfig {
        WaveMixConfig(numClasses: 10, depth: depth, mult: 2, ffChannel: finalDim, finalDim: finalDim, dropout: 0.5,
                      level: 1, initialConv: .strided, patchSize: 4, stride: 1, inChans: 1)
    }
}
