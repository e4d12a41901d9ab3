// Places-365-Standard from its list files; DIR is the spec's path and holds
//   categories_places365.txt     "/a/abbey 0": class id and label, one line per class;
//   places365_train_standard.txt "/a/abbey/00000000.jpg 0": image under the training directory, label;
//   places365_val.txt            "Places365_val_00000001.jpg 165": image under the validation directory;
//   data_256/ or data_large/ (or torchvision's data_256_standard/, data_large_standard/), and
//   val_256/ or val_large/.
// The lists, not the directory tree, give the samples and labels (an ImageFolder walk of data_256
// would see its a/, b/, ... letters as classes). A class's name is its id without the letter
// directory ("apartment_building/outdoor"). Every listed image must exist: directories are listed
// once each and the names looked up, so 1.8 million entries are checked in seconds.

enum Places365 {
    struct Loaded {
        let train: FileList
        let test: FileList
        let ids: [String]
        let names: [String]
    }

    static func load(_ path: String) throws(DataError) -> Loaded {
        let dir = ImageFolder.trimmed(path)
        let categories = dir + "/categories_places365.txt"
        let trainList = dir + "/places365_train_standard.txt", valList = dir + "/places365_val.txt"
        for file in [categories, trainList, valList] where !DirectoryListing.isFile(file) {
            throw .badLayout(path: dir, reason: "not a Places-365 layout: \(file) is missing")
        }
        let trainDirs = ["data_256", "data_large", "data_256_standard", "data_large_standard"].map { dir + "/" + $0 }
        guard let trainImages = trainDirs.first(where: DirectoryListing.isDirectory) else {
            throw .badLayout(path: dir, reason: "no training images: none of data_256/, data_large/ (or *_standard/) is here")
        }
        guard let valImages = ["val_256", "val_large"].map({ dir + "/" + $0 }).first(where: DirectoryListing.isDirectory) else {
            throw .badLayout(path: dir, reason: "no validation images: neither val_256/ nor val_large/ is here")
        }
        let ids = try classes(categories)
        let names = ids.map { id in
            let parts = id.split(separator: "/")
            return parts.count > 1 ? parts.dropFirst().joined(separator: "/") : id
        }
        return Loaded(train: try files(trainList, images: trainImages, numClasses: ids.count),
                      test: try files(valList, images: valImages, numClasses: ids.count), ids: ids, names: names)
    }

    /// The class ids by label; labels must be 0 ..< lines, each once.
    private static func classes(_ path: String) throws(DataError) -> [String] {
        var entries: [(id: String, label: Int, line: Int)] = []
        let list = try ListFile(path)
        try list.forEachLine { line, number throws(DataError) in
            let (id, label) = try list.pathAndLabel(line, number: number)
            entries.append((String(decoding: id, as: UTF8.self), label, number))
        }
        var ids = [String?](repeating: nil, count: entries.count)
        for entry in entries {
            guard entry.label >= 0 && entry.label < entries.count else {
                throw .badListEntry(file: path, line: entry.line, reason: "label \(entry.label) is outside 0..<\(entries.count)")
            }
            guard ids[entry.label] == nil else {
                throw .badListEntry(file: path, line: entry.line, reason: "label \(entry.label) is given twice")
            }
            ids[entry.label] = entry.id
        }
        guard !ids.isEmpty else { throw .badLayout(path: path, reason: "lists no class") }
        return ids.map { $0! }
    }

    /// The images a list names, under `images`, with their labels.
    private static func files(_ path: String, images: String, numClasses: Int) throws(DataError) -> FileList {
        var paths = PathTable(), labels: [Int32] = []
        var directory: ArraySlice<UInt8>?
        var listing: DirectoryListing?
        let list = try ListFile(path)
        try list.forEachLine { line, number throws(DataError) in
            let (entry, label) = try list.pathAndLabel(line, number: number)
            guard label >= 0 && label < numClasses else {
                throw .badListEntry(file: path, line: number, reason: "label \(label) is outside 0..<\(numClasses)")
            }
            let relative = entry.first == UInt8(ascii: "/") ? entry.dropFirst() : entry
            let slash = relative.lastIndex(of: UInt8(ascii: "/"))
            let parent = slash.map { relative[..<$0] } ?? relative[relative.startIndex..<relative.startIndex]
            let name = slash.map { relative[($0 + 1)...] } ?? relative
            if directory.map({ !$0.elementsEqual(parent) }) ?? true {
                let full = images + (parent.isEmpty ? "" : "/" + String(decoding: parent, as: UTF8.self))
                do throws(DataError) { listing = try DirectoryListing(full, imagesOnly: false) } catch {
                    throw .badListEntry(file: path, line: number, reason: "names \(String(decoding: relative, as: UTF8.self)), "
                        + "but \(full) is not a readable directory")
                }
                directory = parent
            }
            guard listing!.contains(name) else {
                throw .badListEntry(file: path, line: number,
                                    reason: "names \(images)/\(String(decoding: relative, as: UTF8.self)), which does not exist")
            }
            paths.append(relative)
            labels.append(Int32(label))
        }
        return FileList(root: images, paths: paths, labels: labels)
    }
}
