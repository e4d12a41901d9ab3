// `--data SPEC` strings and loading the data set they name. SPEC is KIND or KIND:PATH:
//   fashion-mnist[:DIR]   IDX files; DIR defaults to /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)
//   mnist:DIR             IDX files with MNIST's class names and normalisation
//   idx:DIR | idx:DIR/PREFIX   any MNIST-family IDX set (EMNIST: idx:DIR/emnist-balanced)
//   cifar10:DIR, cifar100:DIR, imagefolder:DIR, imagenet:DIR, places365:DIR, packed:DIR
//                         parsed, not loadable yet in this build (DataError.unsupported)

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
    public let classNames: [String]?
    /// The data set's default input normalisation (see Normalization).
    public let normalization: Normalization
}

extension DataSpec {
    public static let fashionMNISTClassNames = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
    public static let mnistClassNames = (0..<10).map(String.init)

    /// Reads the data set from disk and validates it.
    public func load() throws(DataError) -> DataSet {
        switch kind {
        case .fashionMNIST:
            let files = try mnistLayoutFiles(hint: "install it with `apt-get install dataset-fashion-mnist` or pass --data idx:DIR")
            return try loadIDX(files, classNames: Self.fashionMNISTClassNames) { _ in .fashionMNIST }
        case .mnist:
            let files = try mnistLayoutFiles(hint: "download MNIST's four IDX files there or pass --data idx:DIR")
            return try loadIDX(files, classNames: Self.mnistClassNames) { _ in .mnist }
        case .idx:
            return try loadIDX(try IDXDiscovery.resolve(path), classNames: nil, normalization: Normalization.measured)
        case .cifar10, .cifar100, .imageFolder, .imageNet, .places365, .packed:
            throw .unsupported(self)
        }
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
    private func loadIDX(_ files: IDXFiles, classNames: [String]?,
                         normalization: (ImageSet) -> Normalization) throws(DataError) -> DataSet {
        let train = try IDX.loadImageSet(images: files.trainImages, labels: files.trainLabels,
                                         numClasses: classNames?.count, classNames: classNames)
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
