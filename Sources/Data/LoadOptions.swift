// How a data set is read beyond what its spec says (the CLI's --image-size, --strict, ...):
//   imageSize    side of the square samples of file and packed sets (default 224; packed: 7/8 of the
//                stored side, so 224 from 256); in-memory sets (IDX, CIFAR) keep their own size and
//                refuse another;
//   evalResize   shorter side before the evaluation's centre crop (default size / 0.875, rounded
//                down: 256 for 224, torchvision's ImageNet recipe; packed: the stored side);
//   trainCrop    the training split's crop (default RandomResizedCrop(scale 0.08-1, ratio 3/4-4/3));
//   badImages    substitute (default) or stop (--strict) on an unusable image;
//   dctDownscale let TurboJPEG reduce large JPEGs in the DCT domain before resampling (default on);
//   warn         where warnings about unusable images go (default: standard error);
//   numClasses   the class count of a set that does not define one (idx:), instead of inferring it.

public struct LoadOptions: Sendable {
    public var imageSize: Int?
    public var evalResize: Int?
    public var trainCrop: CropPolicy
    public var badImages: BadImagePolicy
    public var dctDownscale: Bool
    public var warn: @Sendable (String) -> Void
    public var numClasses: Int?

    public static let defaultImageSize = 224

    public init(imageSize: Int? = nil, evalResize: Int? = nil, trainCrop: CropPolicy = .randomResizedDefault,
                badImages: BadImagePolicy = .substitute, dctDownscale: Bool = true,
                warn: @escaping @Sendable (String) -> Void = BadImageLog.standardError) {
        precondition((imageSize ?? 1) > 0 && (evalResize ?? 1) > 0, "LoadOptions: sizes must be positive")
        self.imageSize = imageSize
        self.evalResize = evalResize
        self.trainCrop = trainCrop
        self.badImages = badImages
        self.dctDownscale = dctDownscale
        self.warn = warn
    }

    /// What `wavemix prepare` decodes with: both splits as Resize(size) + CenterCrop(size), stopping
    /// on unusable images (the preparation skips them itself).
    public static func prepare(size: Int, dctDownscale: Bool) -> LoadOptions {
        LoadOptions(imageSize: size, evalResize: size, trainCrop: .centre(resize: size), badImages: .stop, dctDownscale: dctDownscale)
    }

    /// torchvision's evaluation resize for a crop: size / 0.875, rounded down.
    public static func defaultResize(for size: Int) -> Int { Int((Double(size) / 0.875).rounded(.down)) }

    func requireNativeSize(height: Int, width: Int, spec: DataSpec) throws(DataError) {
        if let imageSize, imageSize != height || imageSize != width {
            throw .imageSizeUnavailable(spec: spec.description, reason: "images are \(height)x\(width), so --image-size \(imageSize) "
                + "cannot apply (resizing applies to image files and packed sets, not to \(spec.kind.rawValue))")
        }
    }
}
