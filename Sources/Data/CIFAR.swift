// CIFAR-10 and CIFAR-100 in their binary versions, held in memory as ImageSets (32 x 32 x 3):
//   cifar10:DIR   data_batch_1.bin ... data_batch_5.bin and test_batch.bin, records of 1 label
//                 byte + 3072 pixel bytes; class names from batches.meta.txt;
//   cifar100:DIR  train.bin and test.bin, records of a coarse and a fine label byte + 3072 pixel
//                 bytes (the fine label, 0..<100, is used); class names from fine_label_names.txt.
// DIR may also be the directory the archive unpacks into (cifar-10-batches-bin, cifar-100-binary)
// or its parent. Pixels are stored as 1024 red, 1024 green, 1024 blue bytes (row-major each) and
// become HWC. A file whose size is not a whole number of records, or a label out of range, is an
// error naming the file.

import Foundation

enum CIFAR {
    struct Loaded {
        let train: ImageSet
        let test: ImageSet
        let classNames: [String]?
    }

    static func load(_ path: String, hundred: Bool) throws(DataError) -> Loaded {
        let dir = ImageFolder.trimmed(path)
        let inner = dir + (hundred ? "/cifar-100-binary" : "/cifar-10-batches-bin")
        let trainNames = hundred ? ["train.bin"] : (1...5).map { "data_batch_\($0).bin" }
        let testName = hundred ? "test.bin" : "test_batch.bin"
        let root = DirectoryListing.isFile(inner + "/" + testName) ? inner : dir
        for name in trainNames + [testName] where !DirectoryListing.isFile(root + "/" + name) {
            throw .fileNotFound(dataSet: hundred ? "cifar100" : "cifar10", path: root + "/" + name,
                                hint: "unpack the binary version (\(hundred ? "cifar-100-binary.tar.gz" : "cifar-10-binary.tar.gz")) there")
        }
        let numClasses = hundred ? 100 : 10
        let labelBytes = hundred ? 2 : 1
        let train = try read(trainNames.map { root + "/" + $0 }, labelBytes: labelBytes, numClasses: numClasses)
        let test = try read([root + "/" + testName], labelBytes: labelBytes, numClasses: numClasses)
        let namesFile = root + (hundred ? "/fine_label_names.txt" : "/batches.meta.txt")
        var names: [String]?
        if let text = try? String(contentsOfFile: namesFile, encoding: .utf8) {
            let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            names = lines.count == numClasses ? lines : nil
        }
        return Loaded(train: ImageSet(height: 32, width: 32, channels: 3, numClasses: numClasses, classNames: names,
                                      pixels: train.pixels, labels: train.labels),
                      test: ImageSet(height: 32, width: 32, channels: 3, numClasses: numClasses, classNames: names,
                                     pixels: test.pixels, labels: test.labels),
                      classNames: names)
    }

    /// The records of `files`, pixels turned to HWC.
    private static func read(_ files: [String], labelBytes: Int, numClasses: Int) throws(DataError) -> (pixels: [UInt8], labels: [Int32]) {
        let record = labelBytes + 3072
        var pixels: [UInt8] = [], labels: [Int32] = []
        for file in files {
            let contents: [UInt8]
            do { contents = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file))) } catch {
                throw .unreadable(file: file, reason: fileErrorReason(error))
            }
            guard !contents.isEmpty, contents.count % record == 0 else {
                throw .badLayout(path: file, reason: "\(contents.count) bytes is not a whole number of \(record)-byte CIFAR records")
            }
            pixels.reserveCapacity(pixels.count + contents.count / record * 3072)
            for r in 0..<(contents.count / record) {
                let base = r * record
                let label = Int(contents[base + labelBytes - 1])
                guard label < numClasses else {
                    throw .labelOutOfRange(file: file, index: r, label: label, numClasses: numClasses)
                }
                labels.append(Int32(label))
                for p in 0..<1024 {
                    pixels.append(contents[base + labelBytes + p])
                    pixels.append(contents[base + labelBytes + 1024 + p])
                    pixels.append(contents[base + labelBytes + 2048 + p])
                }
            }
        }
        return (pixels, labels)
    }
}
