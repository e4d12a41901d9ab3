// Parsing and validation of a safetensors JSON header: every entry has a known dtype, a shape of
// non-negative integers, data_offsets [begin, end] inside the data section with end - begin equal
// to count * byteSize, and no two tensors share bytes (gaps are allowed). "__metadata__" maps
// strings to strings. Problems are reported in name order, so the same file gives the same error.
import Foundation

struct SafeTensorsHeader {
    struct Entry {
        let info: TensorInfo
        let begin: Int
        let end: Int
    }

    let entries: [String: Entry]
    let metadata: [String: String]

    /// Parses the `json` header of the file at `path`, whose data section is `dataBytes` long.
    static func parse(_ json: Data, dataBytes: Int, path: String) throws(SafeTensorsError) -> SafeTensorsHeader {
        let raw: RawHeader
        do {
            raw = try JSONDecoder().decode(RawHeader.self, from: json)
        } catch {
            throw .invalidHeader(path: path, reason: summarizeDecodingFailure(error))
        }
        var entries: [String: Entry] = [:]
        for (name, rawEntry) in raw.tensors.sorted(by: { $0.name < $1.name }) {
            entries[name] = try validate(rawEntry, name: name, dataBytes: dataBytes, path: path)
        }
        try checkNoOverlap(entries.values, path: path)
        return SafeTensorsHeader(entries: entries, metadata: raw.metadata)
    }

    private static func validate(_ raw: SafeTensorsEntry, name: String, dataBytes: Int, path: String) throws(SafeTensorsError) -> Entry {
        guard let dtype = TensorDType(rawValue: raw.dtype) else {
            throw .unknownDType(path: path, tensor: name, dtype: raw.dtype)
        }
        guard let count = elementCount(of: raw.shape),
              case (let byteCount, false) = count.multipliedReportingOverflow(by: dtype.byteSize) else {
            throw .invalidShape(path: path, tensor: name, shape: raw.shape)
        }
        guard raw.dataOffsets.count == 2 else {
            throw .invalidHeader(path: path, reason: "tensor '\(name)': data_offsets must be [begin, end]")
        }
        let begin = raw.dataOffsets[0], end = raw.dataOffsets[1]
        guard begin >= 0, begin <= end, end <= dataBytes else {
            throw .offsetsOutOfRange(path: path, tensor: name, begin: begin, end: end, dataBytes: dataBytes)
        }
        guard end - begin == byteCount else {
            throw .sizeMismatch(path: path, tensor: name, expectedBytes: byteCount, actualBytes: end - begin)
        }
        return Entry(info: TensorInfo(name: name, dtype: dtype, shape: raw.shape, count: count), begin: begin, end: end)
    }

    /// Empty tensors occupy no bytes and overlap nothing.
    private static func checkNoOverlap(_ entries: some Collection<Entry>, path: String) throws(SafeTensorsError) {
        let regions = entries.filter { $0.end > $0.begin }.sorted { ($0.begin, $0.info.name) < ($1.begin, $1.info.name) }
        for (previous, next) in zip(regions, regions.dropFirst()) where next.begin < previous.end {
            throw .overlap(path: path, first: previous.info.name, second: next.info.name)
        }
    }
}

/// The header as JSON: tensor entries under their names, string metadata under "__metadata__".
private struct RawHeader: Decodable {
    var tensors: [(name: String, entry: SafeTensorsEntry)] = []
    var metadata: [String: String] = [:]

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        for key in container.allKeys {
            if key.stringValue == SafeTensorsWriter.metadataKey {
                metadata = try container.decode([String: String].self, forKey: key)
            } else {
                tensors.append((key.stringValue, try container.decode(SafeTensorsEntry.self, forKey: key)))
            }
        }
    }
}

/// One tensor entry of the header JSON, as stored (unvalidated); the writer encodes the same.
struct SafeTensorsEntry: Codable {
    let dtype: String
    let shape: [Int]
    let dataOffsets: [Int]

    enum CodingKeys: String, CodingKey {
        case dtype, shape
        case dataOffsets = "data_offsets"
    }
}
