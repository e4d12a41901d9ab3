// Text list and label files (Places-365 lists, ImageNet's synset mapping, validation labels): read
// whole and split into lines on "\n" (a trailing "\r" dropped, blank lines skipped), numbered from
// 1 for error messages, parsed as bytes so 1.8 million lines take well under a second.

import Foundation

struct ListFile {
    let path: String
    private let bytes: [UInt8]

    init(_ path: String) throws(DataError) {
        guard FileManager.default.fileExists(atPath: path) else { throw .unreadable(file: path, reason: "no such file") }
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw .unreadable(file: path, reason: fileErrorReason(error))
        }
        self.path = path
    }

    /// Calls `body` with each non-blank line and its number.
    func forEachLine(_ body: (ArraySlice<UInt8>, Int) throws(DataError) -> Void) throws(DataError) {
        var start = 0, number = 0
        while start < bytes.count {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            number += 1
            var line = bytes[start..<end]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) { try body(line, number) }
            start = end + 1
        }
    }

    /// "PATH LABEL": the text before the last space and the integer after it.
    func pathAndLabel(_ line: ArraySlice<UInt8>, number: Int) throws(DataError) -> (path: ArraySlice<UInt8>, label: Int) {
        guard let space = line.lastIndex(of: UInt8(ascii: " ")), let label = Self.integer(line[(space + 1)...]) else {
            throw .badListEntry(file: path, line: number, reason: "expected 'PATH LABEL', found '\(String(decoding: line, as: UTF8.self))'")
        }
        return (line[..<space], label)
    }

    /// A decimal integer (optionally negative) spelled by all of `bytes`.
    static func integer(_ bytes: ArraySlice<UInt8>) -> Int? {
        var digits = bytes[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.count < 19, digits.allSatisfy({ (48...57).contains($0) }) else { return nil }
        let value = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
        return negative ? -value : value
    }
}
