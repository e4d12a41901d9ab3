// ImageNet (ILSVRC-2012 classification) in its usual layouts; DIR is the spec's path:
//   training    ROOT/train/<wnid>/**.JPEG (an ImageFolder tree), ROOT = DIR or DIR/ILSVRC/Data/CLS-LOC
//               (Kaggle's copy); the classes are the sorted wnids, torchvision's order;
//   validation  ROOT/val/<wnid>/*.JPEG (class subdirectories), or ROOT/val/*.JPEG flat, labelled by
//               LOC_val_solution.csv (Kaggle: "ImageId,PredictionString"; the first word of the
//               prediction string is the wnid) or by ILSVRC2012_validation_ground_truth.txt (line k is
//               the devkit class id of ILSVRC2012_val_<k, 8 digits>.JPEG) with the devkit's meta.mat,
//               which maps ids to wnids; flat images are in name order;
//   class names LOC_synset_mapping.txt ("n01440764 tench, Tinca tinca"), else meta.mat's words, else
//               the wnids. Label files are looked for in DIR, ROOT and DIR/ILSVRC2012_devkit_t12/data.
// Every flat validation image needs a label and every label line an image; the mapping must list
// exactly the training classes.

import Foundation

enum ImageNet {
    struct Loaded {
        let train: FileList
        let test: FileList
        let wnids: [String]
        let names: [String]
    }

    static func load(_ path: String) throws(DataError) -> Loaded {
        let dir = ImageFolder.trimmed(path)
        guard let root = [dir, dir + "/ILSVRC/Data/CLS-LOC"].first(where: { DirectoryListing.isDirectory($0 + "/train") }) else {
            throw .badLayout(path: dir, reason: "not an ImageNet layout: no train/ directory here or under ILSVRC/Data/CLS-LOC/")
        }
        let val = root + "/val"
        guard DirectoryListing.isDirectory(val) else { throw .badLayout(path: root, reason: "no val/ directory next to train/") }
        let search = [dir, root, dir + "/ILSVRC2012_devkit_t12/data"]
        let find = { (name: String) in search.map { $0 + "/" + name }.first { FileManager.default.fileExists(atPath: $0) } }

        let wnids = try ImageFolder.classes(in: root + "/train")
        let train = try ImageFolder.files(in: root + "/train", classes: wnids)
        let label = Dictionary(uniqueKeysWithValues: wnids.enumerated().map { ($1, $0) })
        var devkit: [DevkitSynset]?
        let loadDevkit = { () throws(DataError) -> [DevkitSynset]? in
            if devkit == nil, let meta = find("meta.mat") { devkit = try DevkitSynset.leaves(meta) }
            return devkit
        }

        let listing = try DirectoryListing(val, imagesOnly: true)
        let subdirectories = (0..<listing.count).filter { listing.isDirectory[$0] }
        let test: FileList
        if !subdirectories.isEmpty {
            guard subdirectories.count == listing.count else {
                throw .badLayout(path: val, reason: "holds both class subdirectories and loose images")
            }
            test = try ImageFolder.files(in: val, classes: wnids, present: subdirectories.map { listing.name($0) })
        } else if let csv = find("LOC_val_solution.csv") {
            test = try flat(listing, in: val, labels: try kaggleLabels(csv, classes: label), labelFile: csv)
        } else if let truth = find("ILSVRC2012_validation_ground_truth.txt") {
            guard let synsets = try loadDevkit() else {
                throw .badLayout(path: truth, reason: "needs the devkit's meta.mat (ILSVRC2012_devkit_t12/data/meta.mat) to map class ids to wnids")
            }
            test = try flat(listing, in: val, labels: try devkitLabels(truth, synsets: synsets, classes: label), labelFile: truth)
        } else {
            throw .badLayout(path: val, reason: "flat validation images need LOC_val_solution.csv or "
                + "ILSVRC2012_validation_ground_truth.txt + meta.mat (in \(dir), \(root) or \(dir)/ILSVRC2012_devkit_t12/data), "
                + "or move them into class subdirectories")
        }

        var names = wnids
        if let mapping = find("LOC_synset_mapping.txt") {
            names = try synsetMapping(mapping, classes: wnids)
        } else if let synsets = try loadDevkit() {
            let words = Dictionary(synsets.map { ($0.wnid, $0.words) }, uniquingKeysWith: { (first: String, _: String) in first })
            names = wnids.map { words[$0] ?? $0 }
        }
        return Loaded(train: train, test: test, wnids: wnids, names: names)
    }

    /// Labels of flat validation images by image name without extension, with the line naming each.
    typealias FlatLabels = [String: (label: Int, line: Int)]

    /// The flat images of `listing` labelled by `labels`; both must cover each other exactly.
    private static func flat(_ listing: DirectoryListing, in directory: String, labels: FlatLabels,
                             labelFile: String) throws(DataError) -> FileList {
        var paths = PathTable(), values: [Int32] = []
        var used = 0
        for k in 0..<listing.count {
            let name = listing.name(k)
            guard let entry = labels[stem(name)] else {
                throw .badLayout(path: directory + "/" + name, reason: "has no label in \(labelFile)")
            }
            paths.append(name.utf8)
            values.append(Int32(entry.label))
            used += 1
        }
        if used < labels.count {
            let present = Set((0..<listing.count).map { stem(listing.name($0)) })
            let missing = labels.filter { !present.contains($0.key) }.min { $0.value.line < $1.value.line }!
            throw .badListEntry(file: labelFile, line: missing.value.line, reason: "names \(missing.key), which is not in \(directory)")
        }
        return FileList(root: directory, paths: paths, labels: values)
    }

    /// The name without its extension.
    private static func stem(_ name: String) -> String {
        name.split(separator: ".", omittingEmptySubsequences: false).dropLast().joined(separator: ".")
    }

    /// LOC_val_solution.csv: "ImageId,PredictionString" then "ILSVRC2012_val_00008726,n02119789 255 142 454 329 ...".
    private static func kaggleLabels(_ path: String, classes: [String: Int]) throws(DataError) -> FlatLabels {
        var labels: FlatLabels = [:]
        try ListFile(path).forEachLine { line, number throws(DataError) in
            let text = String(decoding: line, as: UTF8.self)
            if number == 1 && text.hasPrefix("ImageId") { return }
            let fields = text.split(separator: ",", maxSplits: 1)
            guard fields.count == 2, let wnid = fields[1].split(separator: " ").first else {
                throw .badListEntry(file: path, line: number, reason: "expected 'ImageId,wnid ...', found '\(text)'")
            }
            guard let label = classes[String(wnid)] else {
                throw .badListEntry(file: path, line: number, reason: "class \(wnid) is not one of the \(classes.count) training classes")
            }
            labels[String(fields[0])] = (label, number)
        }
        return labels
    }

    /// ILSVRC2012_validation_ground_truth.txt: line k holds the devkit id of ILSVRC2012_val_<k>.
    private static func devkitLabels(_ path: String, synsets: [DevkitSynset], classes: [String: Int]) throws(DataError) -> FlatLabels {
        let wnidOf = Dictionary(synsets.map { ($0.id, $0.wnid) }, uniquingKeysWith: { (first: String, _: String) in first })
        var labels: FlatLabels = [:]
        try ListFile(path).forEachLine { line, number throws(DataError) in
            guard let id = ListFile.integer(line) else {
                throw .badListEntry(file: path, line: number, reason: "expected a class id, found '\(String(decoding: line, as: UTF8.self))'")
            }
            guard let wnid = wnidOf[id], let label = classes[wnid] else {
                throw .badListEntry(file: path, line: number, reason: "class id \(id) is not a leaf of meta.mat among the training classes")
            }
            let name = "ILSVRC2012_val_" + String(repeating: "0", count: max(0, 8 - String(number).count)) + String(number)
            labels[name] = (label, number)
        }
        return labels
    }

    /// LOC_synset_mapping.txt: "wnid words" per line, for exactly the training classes.
    private static func synsetMapping(_ path: String, classes: [String]) throws(DataError) -> [String] {
        var words: [String: String] = [:]
        try ListFile(path).forEachLine { line, number throws(DataError) in
            let text = String(decoding: line, as: UTF8.self)
            let parts = text.split(separator: " ", maxSplits: 1)
            words[String(parts[0])] = parts.count == 2 ? String(parts[1]) : String(parts[0])
        }
        if let missing = classes.first(where: { words[$0] == nil }) {
            throw .badLayout(path: path, reason: "has no line for training class \(missing)")
        }
        let known = Set(classes)
        if let extra = words.keys.sorted().first(where: { !known.contains($0) }) {
            throw .badLayout(path: path, reason: "lists \(extra), which has no directory in train/")
        }
        return classes.map { words[$0]! }
    }
}

/// A leaf synset of the devkit's meta.mat: one of the 1000 classes.
struct DevkitSynset: Equatable {
    let id: Int
    let wnid: String
    let words: String

    /// The synsets with num_children == 0 in meta.mat's `synsets` struct array.
    static func leaves(_ path: String) throws(DataError) -> [DevkitSynset] {
        guard case let .structs(fields, elements)? = try MATFile.variables(path)["synsets"] else {
            throw .unreadable(file: path, reason: "no 'synsets' struct array (is this the devkit's meta.mat?)")
        }
        let column = { (name: String) in fields.firstIndex(of: name) }
        guard let id = column("ILSVRC2012_ID"), let wnid = column("WNID"), let words = column("words"),
              let children = column("num_children") else {
            throw .unreadable(file: path, reason: "'synsets' lacks ILSVRC2012_ID, WNID, words or num_children")
        }
        return elements.compactMap { e in
            guard e[children].number == 0, let number = e[id].number, let name = e[wnid].string else { return nil }
            return DevkitSynset(id: Int(number), wnid: name, words: e[words].string ?? name)
        }
    }
}
