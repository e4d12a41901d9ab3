// `--data SPEC` strings and loading the data set they name. SPEC is KIND or KIND:PATH:
//   fashion-mnist[:DIR]   IDX files; DIR defaults to /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)
//   mnist:DIR             IDX files with MNIST's class names and normalisation
//   idx:DIR | idx:DIR/PREFIX   any MNIST-family IDX set (EMNIST: idx:DIR/emnist-balanced)
//   cifar10:DIR, cifar100:DIR   the binary batches, in memory (CIFAR.swift)
//   imagefolder:DIR       DIR/train and DIR/val (or test) class trees (ImageFolder.swift)
//   imagenet:DIR          ILSVRC-2012 in its usual layouts (ImageNet.swift)
//   places365:DIR         Places-365-Standard list files (Places365.swift)
//   packed:DIR            shards written by `wavemix prepare` (PackedFormat.swift)
// In-memory sets keep their image size; file and packed sets are cropped to LoadOptions.imageSize.

import Foundation

public struct DataSpec: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, CaseIterable {
        case fashionMNIST = "fashion-mnist"
        case mnist
        case idx
        case cifar10
        case cifar100
        case imageFolder = "imagefolder"
        case imageNet = "imagenet"
        case places365
        case packed

        /// Where the data set lives when SPEC gives no path; nil if a path is required.
        public var defaultPath: String? {
            self == .fashionMNIST ? "/usr/share/datasets/fashion-mnist" : nil
        }

        /// How a user writes it: "fashion-mnist" (a default path) or "mnist:DIR".
        public var usage: String { defaultPath == nil ? rawValue + ":DIR" : rawValue }

        /// Every kind as a user writes it, for help texts: "fashion-mnist, mnist:DIR, ...".
        public static var usageList: String { allCases.map(\.usage).joined(separator: ", ") }

        /// Whether the set is a tree or list of image files, which `wavemix prepare` can pack.
        public var isImageFiles: Bool { [.imageFolder, .imageNet, .places365].contains(self) }

        /// Whether samples are cropped to LoadOptions.imageSize (image files, packed shards) rather
        /// than kept at the set's own size (IDX and CIFAR, held in memory).
        public var resizes: Bool {
            switch self {
            case .imageFolder, .imageNet, .places365, .packed: true
            case .fashionMNIST, .mnist, .idx, .cifar10, .cifar100: false
            }
        }
    }

    public let kind: Kind
    public let path: String

    public init(kind: Kind, path: String) {
        self.kind = kind
        self.path = path
    }

    /// Parses "KIND" or "KIND:PATH" (the path may itself contain colons).
    public init(parsing spec: String) throws(DataError) {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let kinds = Kind.allCases.map(\.rawValue).joined(separator: ", ")
        guard let kind = Kind(rawValue: String(parts[0])) else {
            throw .badSpec(spec: spec, reason: "unknown data set kind '\(parts[0])'; expected one of \(kinds)")
        }
        let path = parts.count == 2 ? String(parts[1]) : kind.defaultPath
        guard let path, !path.isEmpty else {
            throw .badSpec(spec: spec, reason: "\(kind.rawValue) needs a path: --data \(kind.rawValue):DIR")
        }
        self.init(kind: kind, path: path)
    }

    /// The spec as it would be typed: the kind alone when the path is the default.
    public var description: String {
        path == kind.defaultPath ? kind.rawValue : "\(kind.rawValue):\(path)"
    }
}

/// A loaded data set: the training and test splits and the defaults that go with them.
public struct DataSet: Sendable {
    public let spec: DataSpec
    public let train: any ImageSource
    public let test: any ImageSource
    public let numClasses: Int
    /// Human-readable class names by label (ImageNet: the synset words; Places-365: "abbey").
    public let classNames: [String]?
    /// Class identifiers by label where the data set has them (ImageFolder: directory names,
    /// ImageNet: wnids, Places-365: "/a/abbey"); nil for IDX and CIFAR.
    public let classIDs: [String]?
    /// The data set's default input normalisation (see Normalization).
    public let normalization: Normalization
    /// Unusable images met while reading either split (file and packed sets only).
    public let badImages: BadImageLog?

    init(spec: DataSpec, train: any ImageSource, test: any ImageSource, numClasses: Int, classNames: [String]?,
         classIDs: [String]? = nil, normalization: Normalization, badImages: BadImageLog? = nil) {
        self.spec = spec
        self.train = train
        self.test = test
        self.numClasses = numClasses
        self.classNames = classNames
        self.classIDs = classIDs
        self.normalization = normalization
        self.badImages = badImages
    }
}

extension DataSpec {
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    public static let mnistClassNames = (0..<10).map(String.init)

    /// Reads the data set from disk (for file sets: indexes it) and validates it.
    public func load(_ options: LoadOptions = LoadOptions()) throws(DataError) -> DataSet {
        switch kind {
        case .fashionMNIST, .mnist, .idx:
            let dataSet: DataSet
            if kind == .fashionMNIST {
                let files = try mnistLayoutFiles(hint: "install it with `apt-get install dataset-fashion-mnist` or pass --data idx:DIR")
                dataSet = try loadIDX(files, classNames: Self.fashionMNISTClassNames) { _ in .fashionMNIST }
            } else if kind == .mnist {
                let files = try mnistLayoutFiles(hint: "download MNIST's four IDX files there or pass --data idx:DIR")
                dataSet = try loadIDX(files, classNames: Self.mnistClassNames) { _ in .mnist }
            } else {
                dataSet = try loadIDX(try IDXDiscovery.resolve(path), classNames: nil, numClasses: options.numClasses,
                                      normalization: Normalization.measured)
            }
            try options.requireNativeSize(height: dataSet.train.height, width: dataSet.train.width, spec: self)
            return dataSet
        case .cifar10, .cifar100:
            let cifar = try CIFAR.load(path, hundred: kind == .cifar100)
            try options.requireNativeSize(height: 32, width: 32, spec: self)
            return DataSet(spec: self, train: cifar.train, test: cifar.test, numClasses: cifar.train.numClasses,
                           classNames: cifar.classNames, normalization: kind == .cifar100 ? .cifar100 : .cifar10)
        case .imageFolder:
            let tree = try ImageFolder.load(path)
            return try fileDataSet(train: tree.train, test: tree.test, ids: tree.classes, names: tree.classes, options: options)
        case .imageNet:
            let imageNet = try ImageNet.load(path)
            return try fileDataSet(train: imageNet.train, test: imageNet.test, ids: imageNet.wnids, names: imageNet.names,
                                   options: options)
        case .places365:
            let places = try Places365.load(path)
            return try fileDataSet(train: places.train, test: places.test, ids: places.ids, names: places.names, options: options)
        case .packed:
            return try packedDataSet(options)
        }
    }

    /// A JPEG/PNG data set: random resized crops for training, resize + centre crop for evaluation.
    private func fileDataSet(train: FileList, test: FileList, ids: [String], names: [String],
                             options: LoadOptions) throws(DataError) -> DataSet {
        let size = options.imageSize ?? LoadOptions.defaultImageSize
        let resize = options.evalResize ?? LoadOptions.defaultResize(for: size)
        guard resize >= size else {
            throw .imageSizeUnavailable(spec: description, reason: "the evaluation resize \(resize) is smaller than the image size \(size)")
        }
        let log = BadImageLog(warn: options.warn)
        let trainDecoder = SampleDecoder(size: size, crop: options.trainCrop, dctDownscale: options.dctDownscale)
        let testDecoder = SampleDecoder(size: size, crop: .centre(resize: resize), dctDownscale: options.dctDownscale)
        return DataSet(spec: self,
                       train: ImageFileSource(files: train, numClasses: ids.count, decoder: trainDecoder, policy: options.badImages, log: log),
                       test: ImageFileSource(files: test, numClasses: ids.count, decoder: testDecoder, policy: options.badImages, log: log),
                       numClasses: ids.count, classNames: names, classIDs: ids, normalization: .imageNet, badImages: log)
    }

    /// Shards from `wavemix prepare`: crops of the stored squares (centre crops for evaluation).
    private func packedDataSet(_ options: LoadOptions) throws(DataError) -> DataSet {
        let dir = ImageFolder.trimmed(path)
        let manifest = try PackedManifest.read(dir)
        let stored = manifest.height
        let size = options.imageSize ?? Int(Double(stored) * 0.875)
        let resize = options.evalResize ?? stored
        guard size <= stored, resize >= size else {
            throw .imageSizeUnavailable(spec: description, reason: "records are \(stored)x\(stored); image size \(size) with "
                + "evaluation resize \(resize) needs size <= \(stored) and resize >= size")
        }
        let log = BadImageLog(warn: options.warn)
        let trainDecoder = SampleDecoder(size: size, crop: options.trainCrop, dctDownscale: false)
        let testDecoder = SampleDecoder(size: size, crop: .centre(resize: resize), dctDownscale: false)
        let train = try PackedSource.open(dir: dir, manifest: manifest, split: "train", decoder: trainDecoder,
                                          policy: options.badImages, log: log)
        let test = try PackedSource.open(dir: dir, manifest: manifest, split: "val", decoder: testDecoder,
                                         policy: options.badImages, log: log)
        return DataSet(spec: self, train: train, test: test, numClasses: manifest.classIDs.count, classNames: manifest.classNames,
                       classIDs: manifest.classIDs, normalization: Normalization(mean: manifest.mean, std: manifest.std),
                       badImages: log)
    }

    /// The four files under their MNIST names in `path`; a missing one is reported with `hint`.
    private func mnistLayoutFiles(hint: String) throws(DataError) -> IDXFiles {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        switch IDXDiscovery.files(in: path, prefix: "", names: names) {
        case .found(let files):
            return files
        case .missing(let name):
            let expected = (path as NSString).appendingPathComponent(name + ".gz")
            throw .fileNotFound(dataSet: kind.rawValue, path: expected, hint: hint)
        }
    }

    /// Loads both splits; the test split must have the training split's image size and classes.
    private func loadIDX(_ files: IDXFiles, classNames: [String]?, numClasses: Int? = nil,
                         normalization: (ImageSet) -> Normalization) throws(DataError) -> DataSet {
        let train = try IDX.loadImageSet(images: files.trainImages, labels: files.trainLabels,
                                         numClasses: classNames?.count ?? numClasses, classNames: classNames)
        let test = try IDX.loadImageSet(images: files.testImages, labels: files.testLabels,
                                        numClasses: train.numClasses, classNames: classNames)
        guard (test.height, test.width) == (train.height, train.width) else {
            throw .imageSizeMismatch(file: files.testImages, found: [test.height, test.width],
                                     expected: [train.height, train.width], reference: files.trainImages)
        }
        return DataSet(spec: self, train: train, test: test, numClasses: train.numClasses,
                       classNames: classNames, normalization: normalization(train))
    }
}
