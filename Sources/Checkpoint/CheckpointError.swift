// Everything that can go wrong reading or writing a .wmx checkpoint, each case a one-line message
// that starts with the file (or directory) concerned.

public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file does not start with "WMXCKPT\0".
    case badMagic(path: String)
    /// The format version is one this build does not read (0, or newer than CheckpointFormat.version).
    case unsupportedVersion(path: String, version: UInt32)
    /// The file ends before the header or the sections it declares.
    case truncated(path: String, expectedBytes: Int, actualBytes: Int)
    /// The file continues after the last section.
    case trailingData(path: String, expectedBytes: Int, actualBytes: Int)
    /// A checksum does not match: `region` is "header" or names the section, chunk and which bytes.
    case checksumMismatch(path: String, region: String)
    /// The header (flags, length, JSON, section table) is not what format 1 allows.
    case corruptMetadata(path: String, reason: String)
    /// A section's bytes passed their checksum but do not decode (a writer bug or a forged file).
    case corruptSection(path: String, section: String, reason: String)
    /// No section of that name.
    case missingSection(path: String, section: String)
    /// The section exists but holds another kind of element.
    case wrongSectionKind(path: String, section: String, expected: CheckpointSectionKind, actual: CheckpointSectionKind)
    /// The section holds a different number of elements than the destination buffer.
    case wrongCount(path: String, section: String, expected: Int, actual: Int)
    /// The caller's metadata does not decode as the requested type.
    case metadataMismatch(path: String, reason: String)
    /// The caller's metadata could not be encoded as JSON (e.g. a NaN).
    case metadataNotEncodable(path: String, reason: String)
    /// Two sections with one name were added to a writer.
    case duplicateSection(path: String, section: String)
    /// The directory cannot take new files.
    case notWritable(directory: String, reason: String)
    /// Any other failed system call.
    case io(operation: String, path: String, reason: String)

    public var description: String {
        switch self {
        case .badMagic(let path):
            return "\(path): not a wavemix checkpoint (bad magic)"
        case .unsupportedVersion(let path, let version) where version > CheckpointFormat.version:
            return "\(path): written by a newer wavemix (format \(version)); this build reads format \(CheckpointFormat.version)"
        case .unsupportedVersion(let path, let version):
            return "\(path): unknown format version \(version); this build reads format \(CheckpointFormat.version)"
        case .truncated(let path, let expected, let actual):
            return "\(path): truncated: file is \(actual) bytes, its header and sections need \(expected)"
        case .trailingData(let path, let expected, let actual):
            return "\(path): file is \(actual) bytes but its sections end at \(expected) (trailing data)"
        case .checksumMismatch(let path, let region):
            return "\(path): checksum mismatch in \(region) (the file is corrupt)"
        case .corruptMetadata(let path, let reason):
            return "\(path): corrupt header: \(reason)"
        case .corruptSection(let path, let section, let reason):
            return "\(path): section '\(section)' does not decode: \(reason)"
        case .missingSection(let path, let section):
            return "\(path): no section '\(section)'"
        case .wrongSectionKind(let path, let section, let expected, let actual):
            return "\(path): section '\(section)' holds \(actual.rawValue), not \(expected.rawValue)"
        case .wrongCount(let path, let section, let expected, let actual):
            return "\(path): section '\(section)' holds \(actual) elements, the destination \(expected)"
        case .metadataMismatch(let path, let reason):
            return "\(path): metadata does not decode: \(reason)"
        case .metadataNotEncodable(let path, let reason):
            return "\(path): metadata cannot be encoded as JSON: \(reason)"
        case .duplicateSection(let path, let section):
            return "\(path): section '\(section)' added twice"
        case .notWritable(let directory, let reason):
            return "\(directory): directory is not writable: \(reason)"
        case .io(let operation, let path, let reason):
            return "\(path): \(operation) failed: \(reason)"
        }
    }
}

extension CheckpointError {
    /// The checkpoint-level error for a failed system call on `path` (a temporary file is reported
    /// under the checkpoint it was going to become).
    init(_ failure: SystemCallError, reportedAs path: String) {
        self = .io(operation: failure.operation, path: path, reason: failure.reason)
    }
}

extension ReadOnlyFile {
    /// bytes(at:count:) with a failure reported as a CheckpointError.
    func checkpointBytes(at offset: Int, count: Int) throws(CheckpointError) -> [UInt8] {
        do { return try bytes(at: offset, count: count) } catch { throw CheckpointError(error, reportedAs: path) }
    }
}
