// Finds the four files of an IDX data set (train/test images/labels) in a directory by their usual
// names, raw or .gz (raw preferred when both exist):
//   MNIST, Fashion-MNIST: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, ...
//   EMNIST:               emnist-balanced-train-images-idx3-ubyte, emnist-balanced-test-labels-idx1-ubyte, ...
//   Kaggle copies:        train-images.idx3-ubyte (a dot before "idx")
// The words before the split word ("emnist-balanced") form a prefix; a directory holding several
// prefixes is ambiguous and must be named as DIR/PREFIX.

import Foundation

/// The four files of an IDX data set.
public struct IDXFiles: Sendable, Equatable {
    public let trainImages: String
    public let trainLabels: String
    public let testImages: String
    public let testLabels: String
}

enum IDXDiscovery {
    /// One of the four files a data set needs; rawValue is its canonical (MNIST) name.
    enum Slot: String, CaseIterable {
        case trainImages = "train-images-idx3-ubyte"
        case trainLabels = "train-labels-idx1-ubyte"
        case testImages = "t10k-images-idx3-ubyte"
        case testLabels = "t10k-labels-idx1-ubyte"
    }

    /// A recognised file name: its prefix ("" for MNIST names), which file it is, and whether gzipped.
    struct Match {
        let prefix: String
        let slot: Slot
        let gzipped: Bool
    }

    /// Parses a file name such as "emnist-letters-test-images-idx3-ubyte.gz"; nil if it is not an IDX name.
    static func match(_ name: String) -> Match? {
        let gzipped = name.hasSuffix(".gz")
        let base = (gzipped ? String(name.dropLast(3)) : name).replacingOccurrences(of: ".idx", with: "-idx")
        let isImages: Bool
        if base.hasSuffix("-images-idx3-ubyte") {
            isImages = true
        } else if base.hasSuffix("-labels-idx1-ubyte") {
            isImages = false
        } else {
            return nil
        }
        // Both role suffixes are 18 characters long.
        let words = base.dropLast("-images-idx3-ubyte".count).split(separator: "-", omittingEmptySubsequences: false)
        let isTrain: Bool
        switch words.last! {  // the split word: "test" in "emnist-letters-test"
        case "train": isTrain = true
        case "t10k", "test": isTrain = false
        default: return nil
        }
        let slot: Slot = isTrain ? (isImages ? .trainImages : .trainLabels) : (isImages ? .testImages : .testLabels)
        return Match(prefix: words.dropLast().joined(separator: "-"), slot: slot, gzipped: gzipped)
    }

    /// What was found: the four paths, or the canonical name of the first missing file.
    enum Outcome {
        case found(IDXFiles)
        case missing(String)
    }

    /// Picks the files with exactly `prefix` among `names`, the entries of `directory`.
    static func files(in directory: String, prefix: String, names: [String]) -> Outcome {
        var chosen: [Slot: Match] = [:]
        var chosenName: [Slot: String] = [:]
        for name in names.sorted() {
            guard let m = match(name), m.prefix == prefix else { continue }
            if let existing = chosen[m.slot], !existing.gzipped { continue }  // raw wins over .gz
            chosen[m.slot] = m
            chosenName[m.slot] = name
        }
        for slot in Slot.allCases where chosen[slot] == nil {
            return .missing(prefix.isEmpty ? slot.rawValue : "\(prefix)-\(slot.rawValue)")
        }
        let path = { (slot: Slot) in (directory as NSString).appendingPathComponent(chosenName[slot]!) }
        return .found(IDXFiles(trainImages: path(.trainImages), trainLabels: path(.trainLabels),
                               testImages: path(.testImages), testLabels: path(.testLabels)))
    }

    /// Resolves `idx:PATH`: PATH is a directory holding one data set, or DIR/PREFIX naming one of several.
    static func resolve(_ path: String) throws(DataError) -> IDXFiles {
        var isDirectory: ObjCBool = false
        let pathIsDirectory = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        let parent = (path as NSString).deletingLastPathComponent
        let directory = pathIsDirectory ? path : (parent.isEmpty ? "." : parent)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw .noIDXFiles(path: path, reason: "no such directory \(directory)")
        }

        let prefix: String
        if pathIsDirectory {
            let prefixes = Set(names.compactMap { match($0)?.prefix }).sorted()
            guard prefixes.count <= 1 else {
                let choices = prefixes.map { $0.isEmpty ? "(no prefix)" : $0 }.joined(separator: ", ")
                throw .noIDXFiles(path: path, reason: "holds several IDX data sets (\(choices)); "
                    + "name one, e.g. idx:\((path as NSString).appendingPathComponent(prefixes.last!))")
            }
            prefix = prefixes.first ?? ""
        } else {
            prefix = (path as NSString).lastPathComponent
        }

        switch files(in: directory, prefix: prefix, names: names) {
        case .found(let files):
            return files
        case .missing(let name):
            throw .noIDXFiles(path: path, reason: "no \(name) or \(name).gz in \(directory)")
        }
    }
}
