// Every supported layout on generated trees: ImageFolder (torchvision's class and file order),
// ImageNet (class subdirectories, Kaggle's CSV, the devkit's ground truth + meta.mat), Places-365
// lists and CIFAR binary batches yield the expected class names, labels and counts; broken
// layouts, lists and labels give one-line errors naming the file.

import TestSupport
import Foundation
import Testing
@testable import Data

private func files(_ source: any ImageSource) -> FileList { (source as! ImageFileSource).files }

private func errorText(_ body: () throws -> Any) -> String? {
    do { _ = try body() } catch { return "\(error)" }
    return nil
}

@Suite struct ImageFolderLayoutTests {
    @Test func classesAndFilesFollowTorchvisionOrder() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        for (path, key) in [("train/zebra/img1.JPG", 1), ("train/zebra/img0.jpg", 2), ("train/zebra/sub-x/a.png", 3),
                            ("train/zebra/sub/deep.jpeg", 4), ("train/apple/img0.jpg", 5), ("train/Mango/img0.jpg", 6),
                            ("val/apple/x.jpg", 7), ("val/zebra/y.jpg", 8)] {
            try dir.create(path, jpeg(width: 24, height: 20, key: key))
        }
        for ignored in ["train/zebra/notes.txt", "train/zebra/.hidden.jpg", "train/zebra/._img0.jpg", "train/.ipynb_checkpoints/x.jpg"] {
            try dir.create(ignored, [1, 2, 3])
        }
        let data = try DataSpec(parsing: "imagefolder:\(dir.path)/").load(LoadOptions(imageSize: 16))
        #expect(data.classIDs == ["Mango", "apple", "zebra"] && data.classNames == data.classIDs && data.numClasses == 3)
        let train = files(data.train)
        #expect((0..<train.count).map { train.paths[$0] } == ["Mango/img0.jpg", "apple/img0.jpg", "zebra/img0.jpg", "zebra/img1.JPG",
                                                            "zebra/sub/deep.jpeg", "zebra/sub-x/a.png"])
        #expect(train.labels == [0, 1, 2, 2, 2, 2] && train.root == dir.path + "/train")
        let test = files(data.test)
        #expect(test.count == 2 && test.labels == [1, 2] && test.path(0) == dir.path + "/val/apple/x.jpg")
        #expect(data.train.height == 16 && data.train.channels == 3 && data.normalization == .imageNet)
    }

    @Test func brokenTreesAreNamed() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        try writeClassTree(dir, split: "train", classes: ["a", "b"], perClass: [2, 1])
        try writeClassTree(dir, split: "test", classes: ["a", "kiwi"], perClass: [1, 1])
        #expect(errorText { try DataSpec(parsing: "imagefolder:\(dir.path)").load() }
            == "\(dir.path)/test/kiwi: class 'kiwi' is not one of the 2 training classes")
        try FileManager.default.removeItem(atPath: dir.file("test/kiwi"))
        try dir.mkdir("train/c")
        #expect(errorText { try DataSpec(parsing: "imagefolder:\(dir.path)").load() }
            == "\(dir.path)/train/c: class directory holds no .jpg, .jpeg or .png image")
        try FileManager.default.removeItem(atPath: dir.file("test"))
        #expect(errorText { try DataSpec(parsing: "imagefolder:\(dir.path)").load() }
            == "\(dir.path): no evaluation split: neither \(dir.path)/val nor \(dir.path)/test is a directory")
    }
}

@Suite struct ImageNetLayoutTests {
    let wnids = ["n01440764", "n01443537", "n01484850"]
    let words = ["tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark, white shark"]

    func writeTrain(_ dir: TemporaryDirectory, under root: String = "") throws {
        try writeClassTree(dir, split: root + "train", classes: wnids, perClass: [3, 2, 2], ext: "JPEG")
    }

    func mapping() -> [UInt8] { Array(zip(wnids, words).map { "\($0) \($1)\n" }.joined().utf8) }

    /// Flat validation images ILSVRC2012_val_00000001.JPEG ... in `directory`.
    func writeFlatVal(_ dir: TemporaryDirectory, _ directory: String, count: Int) throws {
        for k in 1...count { try dir.create(String(format: "%@/ILSVRC2012_val_%08d.JPEG", directory, k), jpeg(width: 30, height: 30, key: k)) }
    }

    @Test func validationInClassDirectories() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        try writeTrain(dir)
        try writeClassTree(dir, split: "val", classes: [wnids[2], wnids[0]], perClass: [1, 2], ext: "JPEG")
        try dir.create("LOC_synset_mapping.txt", mapping())
        let data = try DataSpec(parsing: "imagenet:\(dir.path)").load()
        #expect(data.classIDs == wnids && data.classNames == words)
        #expect(data.train.count == 7 && files(data.train).labels == [0, 0, 0, 1, 1, 2, 2])
        #expect(files(data.test).labels == [0, 0, 2])
    }

    @Test func kaggleLayoutWithCSVLabels() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        try writeTrain(dir, under: "ILSVRC/Data/CLS-LOC/")
        try writeFlatVal(dir, "ILSVRC/Data/CLS-LOC/val", count: 4)
        try dir.create("LOC_synset_mapping.txt", mapping())
        let csv = "ImageId,PredictionString\nILSVRC2012_val_00000003,n01484850 1 2 3 4 n01484850 5 6 7 8\n"
            + "ILSVRC2012_val_00000001,n01443537 1 2 3 4\r\nILSVRC2012_val_00000004,n01440764 9 9 9 9\nILSVRC2012_val_00000002,n01440764 0 0 1 1\n"
        try dir.create("LOC_val_solution.csv", Array(csv.utf8))
        let data = try DataSpec(parsing: "imagenet:\(dir.path)").load()
        #expect(data.classNames == words && data.train.count == 7)
        let test = files(data.test)
        #expect(test.labels == [1, 0, 2, 0] && test.paths[2] == "ILSVRC2012_val_00000003.JPEG")
        #expect(test.root == dir.path + "/ILSVRC/Data/CLS-LOC/val")

        try dir.create("LOC_val_solution.csv", Array((csv + "ILSVRC2012_val_00000009,n01440764 0 0 1 1\n").utf8))
        #expect(errorText { try DataSpec(parsing: "imagenet:\(dir.path)").load() } == "\(dir.path)/LOC_val_solution.csv:6: "
            + "names ILSVRC2012_val_00000009, which is not in \(dir.path)/ILSVRC/Data/CLS-LOC/val")
        try dir.create("LOC_val_solution.csv", Array(csv.replacingOccurrences(of: "ILSVRC2012_val_00000002,n01440764 0 0 1 1\n", with: "").utf8))
        #expect(errorText { try DataSpec(parsing: "imagenet:\(dir.path)").load() } == "\(dir.path)/ILSVRC/Data/CLS-LOC/val/"
            + "ILSVRC2012_val_00000002.JPEG: has no label in \(dir.path)/LOC_val_solution.csv")
        try dir.create("LOC_val_solution.csv", Array((csv + "ILSVRC2012_val_00000005,n09999999 0 0 1 1\n").utf8))
        #expect(errorText { try DataSpec(parsing: "imagenet:\(dir.path)").load() } == "\(dir.path)/LOC_val_solution.csv:6: "
            + "class n09999999 is not one of the 3 training classes")
    }

    @Test(arguments: [false, true])
    func devkitGroundTruthWithMetaMat(compressed: Bool) throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        try writeTrain(dir)
        try writeFlatVal(dir, "val", count: 4)
        // The devkit numbers classes in its own order: id 1 = n01484850, 2 = n01440764, 3 = n01443537; id 4 is no leaf.
        let synsets = [(1, wnids[2], words[2], 0), (2, wnids[0], words[0], 0), (3, wnids[1], words[1], 0), (4, "n00001740", "entity", 3)]
        try dir.create("ILSVRC2012_devkit_t12/data/meta.mat", metaMat(synsets.map { (id: $0.0, wnid: $0.1, words: $0.2, children: $0.3) },
                                                                      compressed: compressed))
        try dir.create("ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", Array("3\n1\n2\n1\n".utf8))
        let data = try DataSpec(parsing: "imagenet:\(dir.path)").load()
        #expect(data.classIDs == wnids && data.classNames == words)  // names from meta.mat's words
        #expect(files(data.test).labels == [1, 2, 0, 2])

        try dir.create("ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt", Array("3\n1\n2\n1\n4\n".utf8))
        #expect(errorText { try DataSpec(parsing: "imagenet:\(dir.path)").load() } == "\(dir.path)/ILSVRC2012_devkit_t12/data/"
            + "ILSVRC2012_validation_ground_truth.txt:5: class id 4 is not a leaf of meta.mat among the training classes")
        try FileManager.default.removeItem(atPath: dir.file("ILSVRC2012_devkit_t12/data/meta.mat"))
        #expect(errorText { try DataSpec(parsing: "imagenet:\(dir.path)").load() }?.hasSuffix(
            "needs the devkit's meta.mat (ILSVRC2012_devkit_t12/data/meta.mat) to map class ids to wnids") == true)
    }

    @Test func unlabelledFlatValidationAndBadMappingsAreNamed() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        try writeTrain(dir)
        try writeFlatVal(dir, "val", count: 2)
        #expect(errorText { try DataSpec(parsing: "imagenet:\(dir.path)").load() }?.hasPrefix(
            "\(dir.path)/val: flat validation images need LOC_val_solution.csv or ILSVRC2012_validation_ground_truth.txt") == true)
        try dir.create("LOC_val_solution.csv", Array("ILSVRC2012_val_00000001,n01440764\nILSVRC2012_val_00000002,n01440764\n".utf8))
        try dir.create("LOC_synset_mapping.txt", Array(mapping().prefix(29)))
        #expect(errorText { try DataSpec(parsing: "imagenet:\(dir.path)").load() }
            == "\(dir.path)/LOC_synset_mapping.txt: has no line for training class n01443537")
    }
}

@Suite struct Places365LayoutTests {
    func write(_ dir: TemporaryDirectory, trainList: String) throws {
        try dir.create("categories_places365.txt", Array("/a/abbey 0\n/b/bamboo_forest 1\n/a/apartment_building/outdoor 2\n".utf8))
        for (k, path) in ["a/abbey/00000000.jpg", "a/abbey/00000001.jpg", "b/bamboo_forest/00000000.jpg",
                          "a/apartment_building/outdoor/00000000.jpg"].enumerated() {
            try dir.create("data_256/" + path, jpeg(width: 32, height: 32, key: k))
        }
        for k in 1...3 { try dir.create(String(format: "val_256/Places365_val_%08d.jpg", k), jpeg(width: 32, height: 32, key: 10 + k)) }
        try dir.create("places365_train_standard.txt", Array(trainList.utf8))
        try dir.create("places365_val.txt", Array("Places365_val_00000001.jpg 2\nPlaces365_val_00000002.jpg 0\nPlaces365_val_00000003.jpg 1\n".utf8))
    }

    let list = "/a/abbey/00000000.jpg 0\n/a/abbey/00000001.jpg 0\n/a/apartment_building/outdoor/00000000.jpg 2\n/b/bamboo_forest/00000000.jpg 1\n"

    @Test func listsGiveClassesAndLabels() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        try write(dir, trainList: list)
        let data = try DataSpec(parsing: "places365:\(dir.path)").load()
        #expect(data.classIDs == ["/a/abbey", "/b/bamboo_forest", "/a/apartment_building/outdoor"])
        #expect(data.classNames == ["abbey", "bamboo_forest", "apartment_building/outdoor"])
        let train = files(data.train)
        #expect(train.labels == [0, 0, 2, 1] && train.path(2) == dir.path + "/data_256/a/apartment_building/outdoor/00000000.jpg")
        #expect(files(data.test).labels == [2, 0, 1] && files(data.test).root == dir.path + "/val_256")
    }

    @Test func badListsAreNamedWithTheirLine() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        try write(dir, trainList: list + "/b/bamboo_forest/00000009.jpg 1\n")
        let listFile = dir.file("places365_train_standard.txt")
        #expect(errorText { try DataSpec(parsing: "places365:\(dir.path)").load() }
            == "\(listFile):5: names \(dir.path)/data_256/b/bamboo_forest/00000009.jpg, which does not exist")
        try write(dir, trainList: list + "/b/bamboo_forest/00000000.jpg 3\n")
        #expect(errorText { try DataSpec(parsing: "places365:\(dir.path)").load() } == "\(listFile):5: label 3 is outside 0..<3")
        try write(dir, trainList: list + "/c/canyon/00000000.jpg 1\n")
        #expect(errorText { try DataSpec(parsing: "places365:\(dir.path)").load() }
            == "\(listFile):5: names c/canyon/00000000.jpg, but \(dir.path)/data_256/c/canyon is not a readable directory")
        try write(dir, trainList: "/a/abbey/00000000.jpg\n")
        #expect(errorText { try DataSpec(parsing: "places365:\(dir.path)").load() }
            == "\(listFile):1: expected 'PATH LABEL', found '/a/abbey/00000000.jpg'")
    }
}

@Suite struct CIFARLayoutTests {
    @Test func cifar10BatchesLoadAsHWC() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        for b in 1...5 { try dir.create("cifar-10-batches-bin/data_batch_\(b).bin", cifarRecords(count: 3, hundred: false, key: b) { ($0 + b) % 10 }) }
        let testRecords = cifarRecords(count: 4, hundred: false, key: 9) { $0 }
        try dir.create("cifar-10-batches-bin/test_batch.bin", testRecords)
        let names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        try dir.create("cifar-10-batches-bin/batches.meta.txt", Array((names.joined(separator: "\n") + "\n\n").utf8))
        let data = try DataSpec(parsing: "cifar10:\(dir.path)").load()
        let test = try #require(data.test as? ImageSet)
        #expect(data.train.count == 15 && test.count == 4 && data.classNames == names && data.normalization == .cifar10)
        #expect(test.labels == [0, 1, 2, 3] && (test.height, test.width, test.channels) == (32, 32, 3))
        let record = 3 * 3073  // test image 3: pixel (y 5, x 7), channel c is byte 1 + c * 1024 + 5 * 32 + 7 of its record
        for c in 0..<3 { #expect(test.pixels[3 * 3072 + (5 * 32 + 7) * 3 + c] == testRecords[record + 1 + c * 1024 + 5 * 32 + 7]) }
        #expect(throws: DataError.imageSizeUnavailable(spec: "cifar10:\(dir.path)", reason: "images are 32x32, so --image-size 224 cannot "
            + "apply (resizing applies to image files and packed sets, not to cifar10)")) { try DataSpec(parsing: "cifar10:\(dir.path)").load(LoadOptions(imageSize: 224)) }
        try dir.create("cifar-10-batches-bin/test_batch.bin", Array(testRecords.dropLast(5)))
        #expect(errorText { try DataSpec(parsing: "cifar10:\(dir.path)").load() } == "\(dir.path)/cifar-10-batches-bin/test_batch.bin: "
            + "12287 bytes is not a whole number of 3073-byte CIFAR records")
    }

    @Test func cifar100UsesFineLabels() throws {
        let dir = TemporaryDirectory()
        defer { withExtendedLifetime(dir) {} }
        try dir.create("train.bin", cifarRecords(count: 5, hundred: true, key: 1) { 95 + $0 % 5 })
        try dir.create("test.bin", cifarRecords(count: 2, hundred: true, key: 2) { $0 * 50 })
        let data = try DataSpec(parsing: "cifar100:\(dir.path)").load()
        #expect((data.train as? ImageSet)?.labels == [95, 96, 97, 98, 99] && data.numClasses == 100 && data.classNames == nil)
        try dir.create("test.bin", cifarRecords(count: 2, hundred: true, key: 2) { $0 * 100 })
        #expect(throws: DataError.labelOutOfRange(file: dir.file("test.bin"), index: 1, label: 100, numClasses: 100)) {
            try DataSpec(parsing: "cifar100:\(dir.path)").load()
        }
    }
}
