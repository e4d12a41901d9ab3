// A reader for the part of the MATLAB level-5 MAT-file format that the ImageNet devkit's meta.mat
// uses: a 128-byte header (little-endian files only), then data elements (tag: type and byte count,
// or the 4-byte "small element" form; data padded to 8 bytes; miCOMPRESSED elements hold a zlib
// stream of further elements). A miMATRIX holds array flags (its class), dimensions, a name and
// then, by class: numbers (any integer or float storage type), characters (UTF-8, UTF-16 or bytes;
// row vectors), cells (one matrix per element) or structs (field names, then one matrix per field
// per element, in column-major element order). Anything else reads as `.empty`.

import Foundation

indirect enum MATValue: Equatable {
    case numbers([Double])
    case text(String)
    case cells([MATValue])
    /// Struct array: field names and, per element, one value per field.
    case structs(fields: [String], elements: [[MATValue]])
    case empty

    var number: Double? { if case .numbers(let values) = self, values.count == 1 { return values[0] } else { return nil } }
    var string: String? { if case .text(let text) = self { return text } else { return nil } }
}

enum MATFile {
    /// The named top-level variables of `path`.
    static func variables(_ path: String) throws(DataError) -> [String: MATValue] {
        let contents: [UInt8]
        do { contents = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw .unreadable(file: path, reason: fileErrorReason(error))
        }
        guard contents.count >= 128 else { throw .unreadable(file: path, reason: "not a MAT-file: shorter than its 128-byte header") }
        guard contents[126] == UInt8(ascii: "I") && contents[127] == UInt8(ascii: "M") else {
            throw .unreadable(file: path, reason: "not a little-endian MATLAB 5 MAT-file")
        }
        var reader = Reader(bytes: contents[128...], file: path)
        var result: [String: MATValue] = [:]
        while !reader.atEnd {
            let (type, data) = try reader.element()
            var elements: [(UInt32, ArraySlice<UInt8>)] = [(type, data)]
            if type == Reader.compressed {
                let inflated = try data.withUnsafeBytes { raw in Result { () throws(DataError) in try Gzip.inflate(raw, file: path) } }.get()
                var inner = Reader(bytes: inflated[...], file: path)
                elements = []
                while !inner.atEnd { elements.append(try inner.element()) }
            }
            for (type, data) in elements where type == Reader.matrix {
                let (name, value) = try matrix(data, file: path)
                result[name] = value
            }
        }
        return result
    }

    /// Parses the contents of a miMATRIX element.
    private static func matrix(_ data: ArraySlice<UInt8>, file: String) throws(DataError) -> (String, MATValue) {
        guard !data.isEmpty else { return ("", .empty) }
        var reader = Reader(bytes: data, file: file)
        let flags = try reader.element().data
        guard flags.count >= 4 else { throw .unreadable(file: file, reason: "MAT array flags too short") }
        let arrayClass = flags[flags.startIndex]
        let dims = try Reader.numbers(reader.element(), file: file).map { Int($0) }
        let name = String(decoding: try reader.element().data, as: UTF8.self)
        let elementCount = dims.reduce(1, *)
        switch arrayClass {
        case 1:  // cell
            var cells: [MATValue] = []
            for _ in 0..<elementCount { cells.append(try matrix(reader.element().data, file: file).1) }
            return (name, .cells(cells))
        case 2:  // struct
            let nameLength = Int(try Reader.numbers(reader.element(), file: file).first ?? 0)
            let names = try reader.element().data
            guard nameLength > 0 else { return (name, .structs(fields: [], elements: [])) }
            let fields = stride(from: names.startIndex, to: names.endIndex, by: nameLength).map { start in
                String(decoding: names[start..<min(start + nameLength, names.endIndex)].prefix { $0 != 0 }, as: UTF8.self)
            }
            var elements: [[MATValue]] = []
            for _ in 0..<elementCount {
                var values: [MATValue] = []
                for _ in fields { values.append(try matrix(reader.element().data, file: file).1) }
                elements.append(values)
            }
            return (name, .structs(fields: fields, elements: elements))
        case 4:  // char
            let (type, text) = try reader.element()
            switch type {
            case 3, 4, 17:  // 16-bit units
                let units = stride(from: text.startIndex, to: text.endIndex - 1, by: 2).map { UInt16(text[$0]) | UInt16(text[$0 + 1]) << 8 }
                return (name, .text(String(decoding: units, as: UTF16.self)))
            default:
                return (name, .text(String(decoding: text, as: UTF8.self)))
            }
        case 6...15:  // double, single, int8 ... uint64
            return (name, .numbers(try Reader.numbers(reader.element(), file: file)))
        default:
            return (name, .empty)
        }
    }

    /// A cursor over a run of data elements.
    private struct Reader {
        static let matrix: UInt32 = 14
        static let compressed: UInt32 = 15

        let bytes: ArraySlice<UInt8>
        let file: String
        var offset: Int

        init(bytes: ArraySlice<UInt8>, file: String) {
            self.bytes = bytes
            self.file = file
            offset = bytes.startIndex
        }

        var atEnd: Bool { offset + 8 > bytes.endIndex }

        private func u32(_ at: Int) -> UInt32 {
            (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
        }

        /// The next element's type and data.
        mutating func element() throws(DataError) -> (type: UInt32, data: ArraySlice<UInt8>) {
            guard !atEnd else { throw .unreadable(file: file, reason: "MAT-file ends inside an element at byte \(offset)") }
            let tag = u32(offset)
            if tag >> 16 != 0 {  // small element: 2-byte count, 2-byte type, 4 bytes of data
                let size = Int(tag >> 16)
                guard size <= 4 else { throw .unreadable(file: file, reason: "bad small MAT element at byte \(offset)") }
                defer { offset += 8 }
                return (tag & 0xFFFF, bytes[(offset + 4)..<(offset + 4 + size)])
            }
            let size = Int(u32(offset + 4))
            let start = offset + 8
            guard size <= bytes.endIndex - start else {
                throw .unreadable(file: file, reason: "MAT element at byte \(offset) runs past the end of the file")
            }
            offset = min(bytes.endIndex, start + (tag == Self.compressed ? size : (size + 7) / 8 * 8))
            return (tag, bytes[start..<(start + size)])
        }

        /// The numbers of a numeric element, whatever its storage type.
        static func numbers(_ element: (type: UInt32, data: ArraySlice<UInt8>), file: String) throws(DataError) -> [Double] {
            let data = element.data
            let width: Int
            switch element.type {
            case 1, 2: width = 1
            case 3, 4: width = 2
            case 5, 6, 7: width = 4
            case 9, 12, 13: width = 8
            default: throw .unreadable(file: file, reason: "MAT numeric element of unknown type \(element.type)")
            }
            return stride(from: data.startIndex, to: data.endIndex - width + 1, by: width).map { at in
                let raw = (0..<width).reduce(UInt64(0)) { $0 | UInt64(data[at + $1]) << (8 * UInt64($1)) }
                switch element.type {
                case 1: return Double(Int8(truncatingIfNeeded: raw))
                case 3: return Double(Int16(truncatingIfNeeded: raw))
                case 5: return Double(Int32(truncatingIfNeeded: raw))
                case 7: return Double(Float(bitPattern: UInt32(raw)))
                case 9: return Double(bitPattern: raw)
                case 12: return Double(Int64(bitPattern: raw))
                default: return Double(raw)
                }
            }
        }
    }
}
