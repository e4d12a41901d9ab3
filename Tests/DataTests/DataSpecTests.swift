// --data SPEC parsing, IDX file discovery (MNIST, EMNIST and Kaggle names, raw and gzip, ambiguous
// directories) and data set loading errors.

import TestSupport
import Foundation
import Testing
@testable import Data

@Suite struct DataSpecTests {
    @Test func everyKindParsesAndPrintsBack() throws {
        #expect(try DataSpec(parsing: "fashion-mnist") == DataSpec(kind: .fashionMNIST, path: "/usr/share/datasets/fashion-mnist"))
        let specs = ["fashion-mnist", "fashion-mnist:/data/fm", "mnist:/data/mnist", "idx:/data/emnist/emnist-letters",
                     "cifar10:/d", "cifar100:/d", "imagefolder:/d", "imagenet:/d", "places365:/d", "packed:/d/with:colon"]
        for spec in specs {
            #expect(try DataSpec(parsing: spec).description == spec)
        }
        #expect(try DataSpec(parsing: "packed:/d/with:colon").path == "/d/with:colon")
        #expect(Set(try specs.map { try DataSpec(parsing: $0).kind }) == Set(DataSpec.Kind.allCases))
    }

    @Test func badSpecsAreRefused() {
        #expect(throws: DataError.badSpec(spec: "idx", reason: "idx needs a path: --data idx:DIR")) {
            try DataSpec(parsing: "idx")
        }
        #expect(throws: DataError.badSpec(spec: "imagenet:", reason: "imagenet needs a path: --data imagenet:DIR")) {
            try DataSpec(parsing: "imagenet:")
        }
        let unknown = #expect(throws: DataError.self) { try DataSpec(parsing: "svhn:/d") }
        #expect(unknown?.description.hasPrefix("--data svhn:/d: unknown data set kind 'svhn'; expected one of fashion-mnist,") == true)
    }

    @Test func missingDataSetsAreNamed() throws {
        let expected = [
            "cifar10:/nonexistent": "cifar10: /nonexistent/data_batch_1.bin not found; unpack the binary version (cifar-10-binary.tar.gz) there",
            "cifar100:/nonexistent": "cifar100: /nonexistent/train.bin not found; unpack the binary version (cifar-100-binary.tar.gz) there",
            "imagefolder:/nonexistent": "/nonexistent: an ImageFolder data set needs /nonexistent/train and /nonexistent/val (or test), "
                + "each with one subdirectory per class",
            "imagenet:/nonexistent": "/nonexistent: not an ImageNet layout: no train/ directory here or under ILSVRC/Data/CLS-LOC/",
            "places365:/nonexistent": "/nonexistent: not a Places-365 layout: /nonexistent/categories_places365.txt is missing",
            "packed:/nonexistent": "/nonexistent/manifest.json: missing: /nonexistent is not a packed data set (make one with wavemix prepare)",
        ]
        for (spec, message) in expected {
            let error = #expect(throws: DataError.self) { try DataSpec(parsing: spec).load() }
            #expect(error?.description == message, "\(spec)")
        }
    }

    @Test func missingFashionMNISTSaysHowToGetIt() throws {
        let dir = TemporaryDirectory()
        let spec = try DataSpec(parsing: "fashion-mnist:\(dir.path)")
        let error = #expect(throws: DataError.self) { try spec.load() }
        #expect(error?.description == "fashion-mnist: \(dir.path)/train-images-idx3-ubyte.gz not found; install it with "
            + "`apt-get install dataset-fashion-mnist` or pass --data idx:DIR")
    }

    @Test func fileNamesAreRecognised() {
        let names: [(String, String, IDXDiscovery.Slot, Bool)] = [
            ("train-images-idx3-ubyte", "", .trainImages, false),
            ("t10k-labels-idx1-ubyte.gz", "", .testLabels, true),
            ("train-images.idx3-ubyte", "", .trainImages, false),
            ("emnist-balanced-test-images-idx3-ubyte.gz", "emnist-balanced", .testImages, true),
            ("emnist-byclass-train-labels-idx1-ubyte", "emnist-byclass", .trainLabels, false),
        ]
        for (name, prefix, slot, gzipped) in names {
            let m = IDXDiscovery.match(name)
            #expect(m?.prefix == prefix && m?.slot == slot && m?.gzipped == gzipped, "\(name)")
        }
        for name in ["README", "train-images-idx3-ubyte.zip", "valid-images-idx3-ubyte", "train-images-idx2-ubyte"] {
            #expect(IDXDiscovery.match(name) == nil, "\(name)")
        }
    }

    let mnistNames = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"]
    let synthetic = SyntheticIDX(count: 30, height: 6, width: 5, numClasses: 4, key: 3)

    @Test func idxDirectoryLoadsWithMeasuredNormalisation() throws {
        let dir = TemporaryDirectory()
        try synthetic.writeDataSet(into: dir, names: mnistNames)
        let dataSet = try DataSpec(parsing: "idx:\(dir.path)").load()
        let train = try #require(dataSet.train as? ImageSet)
        #expect((train.count, dataSet.test.count, train.height, train.width) == (30, 15, 6, 5))
        #expect(train.pixels == synthetic.pixels)
        #expect(dataSet.numClasses == Int(synthetic.labels.max()!) + 1 && dataSet.classNames == nil)
        #expect(dataSet.normalization == Normalization.measured(from: train))
    }

    @Test func mnistSpecUsesMNISTDefaults() throws {
        let dir = TemporaryDirectory()
        try SyntheticIDX(count: 30, height: 6, width: 5, numClasses: 10, key: 3).writeDataSet(into: dir, names: mnistNames)
        let dataSet = try DataSpec(parsing: "mnist:\(dir.path)").load()
        #expect(dataSet.normalization == .mnist && dataSet.numClasses == 10 && dataSet.classNames?[3] == "3")
    }

    @Test func emnistPrefixesAreChosenByPath() throws {
        let dir = TemporaryDirectory()
        for prefix in ["emnist-balanced", "emnist-digits"] {
            try synthetic.writeDataSet(into: dir, names: [
                "\(prefix)-train-images-idx3-ubyte", "\(prefix)-train-labels-idx1-ubyte",
                "\(prefix)-test-images-idx3-ubyte", "\(prefix)-test-labels-idx1-ubyte",
            ])
        }
        let ambiguous = #expect(throws: DataError.self) { try DataSpec(parsing: "idx:\(dir.path)").load() }
        #expect(ambiguous?.description == "idx:\(dir.path): holds several IDX data sets (emnist-balanced, emnist-digits); "
            + "name one, e.g. idx:\(dir.path)/emnist-digits")
        let files = try IDXDiscovery.resolve(dir.file("emnist-balanced"))
        #expect(files.testLabels == dir.file("emnist-balanced-test-labels-idx1-ubyte"))
        #expect(try DataSpec(parsing: "idx:\(dir.file("emnist-digits"))").load().train.count == 30)
    }

    @Test func rawFilesArePreferredOverGzip() throws {
        let dir = TemporaryDirectory()
        try synthetic.writeDataSet(into: dir, names: mnistNames)
        try dir.write("train-images-idx3-ubyte.gz", [0x1f, 0x8b, 0])  // a broken copy that must not be read
        #expect(try IDXDiscovery.resolve(dir.path).trainImages == dir.file("train-images-idx3-ubyte"))
        #expect(try IDXDiscovery.resolve(dir.path).testImages == dir.file("t10k-images-idx3-ubyte.gz"))
    }

    @Test func missingIDXFilesAreNamed() throws {
        let dir = TemporaryDirectory()
        try synthetic.writeDataSet(into: dir, names: Array(mnistNames.prefix(3)) + ["unrelated"])
        #expect(throws: DataError.noIDXFiles(path: dir.path, reason: "no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz in \(dir.path)")) {
            try DataSpec(parsing: "idx:\(dir.path)").load()
        }
        #expect(throws: DataError.noIDXFiles(path: "/nonexistent/x", reason: "no such directory /nonexistent")) {
            try DataSpec(parsing: "idx:/nonexistent/x").load()
        }
    }

    @Test func testSplitMustMatchTheTrainingSplit() throws {
        let dir = TemporaryDirectory()
        try synthetic.writeDataSet(into: dir, names: mnistNames)
        let wide = SyntheticIDX(count: 15, height: 6, width: 7, numClasses: 4, key: 9)
        try dir.writeIDX("t10k-images-idx3-ubyte.gz", wide.imagesFile)
        #expect(throws: DataError.imageSizeMismatch(file: dir.file("t10k-images-idx3-ubyte.gz"), found: [6, 7], expected: [6, 5],
                                                    reference: dir.file("train-images-idx3-ubyte"))) {
            try DataSpec(parsing: "idx:\(dir.path)").load()
        }
        let trainClasses = Int(synthetic.labels.max()!) + 1
        try dir.writeIDX("t10k-images-idx3-ubyte.gz", SyntheticIDX(count: 2, height: 6, width: 5, numClasses: 4, key: 1).imagesFile)
        try dir.write("t10k-labels-idx1-ubyte", idxBytes(dims: [2], data: [0, UInt8(trainClasses)]))
        #expect(throws: DataError.labelOutOfRange(file: dir.file("t10k-labels-idx1-ubyte"), index: 1, label: trainClasses,
                                                  numClasses: trainClasses)) {
            try DataSpec(parsing: "idx:\(dir.path)").load()
        }
    }
}
