// ImageFolder trees, as torchvision.datasets.ImageFolder reads them: the classes are the sorted
// subdirectory names of a split's directory; a class's images are found recursively (following
// symbolic links, each directory once), directories in path order, files in name order, keeping
// .jpg, .jpeg and .png names in any case. Unlike torchvision, names starting with "." are skipped
// (so .ipynb_checkpoints is no class and ._x.jpg resource forks are no images).
//
// `imagefolder:DIR` is DIR/train plus DIR/val (or DIR/test); the evaluation split's class
// directories must be training classes and may be fewer. A class directory without images is an
// error, as in torchvision.

enum ImageFolder {
    /// The sorted class subdirectories of `directory`.
    static func classes(in directory: String) throws(DataError) -> [String] {
        let listing = try DirectoryListing(directory, imagesOnly: true)
        let classes = (0..<listing.count).filter { listing.isDirectory[$0] }.map { listing.name($0) }
        guard !classes.isEmpty else { throw .badLayout(path: directory, reason: "no class subdirectories") }
        return classes
    }

    /// The images of every class subdirectory of `directory`, labelled by their index in `classes`;
    /// a subdirectory that is not in `classes` is an error naming it.
    static func files(in directory: String, classes: [String], present: [String]? = nil) throws(DataError) -> FileList {
        let labelOf = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, Int32($0)) })
        var paths = PathTable()
        var labels: [Int32] = []
        for name in present ?? classes {
            guard let label = labelOf[name] else {
                throw .badLayout(path: directory + "/" + name, reason: "class '\(name)' is not one of the \(classes.count) training classes")
            }
            let added = try appendImages(root: directory, relative: name, to: &paths)
            guard added > 0 else { throw .emptyClass(directory: directory + "/" + name) }
            labels.append(contentsOf: repeatElement(label, count: added))
        }
        return FileList(root: directory, paths: paths, labels: labels)
    }

    /// Appends the images under root/relative to `paths` in torchvision's order; returns how many.
    static func appendImages(root: String, relative: String, to paths: inout PathTable) throws(DataError) -> Int {
        var directories: [(path: [UInt8], listing: DirectoryListing)] = []
        var visited = Set<[UInt64]>()
        var pending = [Array(relative.utf8)]
        while let directory = pending.popLast() {
            let full = root + "/" + String(decoding: directory, as: UTF8.self)
            guard let identity = DirectoryListing.identity(full), visited.insert(identity).inserted else { continue }
            let listing = try DirectoryListing(full, imagesOnly: true)
            for k in 0..<listing.count where listing.isDirectory[k] {
                pending.append(directory + [UInt8(ascii: "/")] + listing.nameBytes(k))
            }
            directories.append((directory, listing))
        }
        directories.sort { $0.path.lexicographicallyPrecedes($1.path) }
        var added = 0
        for (directory, listing) in directories {
            for k in 0..<listing.count where !listing.isDirectory[k] {
                paths.append(directory: directory, name: listing.nameBytes(k))
                added += 1
            }
        }
        return added
    }

    /// `imagefolder:DIR`: DIR/train and DIR/val (or DIR/test).
    static func load(_ path: String) throws(DataError) -> (train: FileList, test: FileList, classes: [String]) {
        let root = trimmed(path)
        let train = root + "/train"
        guard DirectoryListing.isDirectory(train) else {
            throw .badLayout(path: root, reason: "an ImageFolder data set needs \(train) and \(root)/val (or test), "
                + "each with one subdirectory per class")
        }
        guard let test = ["val", "test"].map({ root + "/" + $0 }).first(where: DirectoryListing.isDirectory) else {
            throw .badLayout(path: root, reason: "no evaluation split: neither \(root)/val nor \(root)/test is a directory")
        }
        let classes = try classes(in: train)
        let trainFiles = try files(in: train, classes: classes)
        let testFiles = try files(in: test, classes: classes, present: try Self.classes(in: test))
        return (trainFiles, testFiles, classes)
    }

    /// `path` without trailing slashes ("/" stays).
    static func trimmed(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        return String(p)
    }
}
