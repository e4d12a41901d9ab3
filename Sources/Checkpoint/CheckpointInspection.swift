// A printable summary of a checkpoint for the CLI: metadata, sections with their raw and stored
// sizes and compression ratios, and whether each section's stored bytes match their checksums.

public struct CheckpointInspection: Sendable {
    public enum ChecksumStatus: Sendable, Equatable {
        case verified
        /// The first chunk (0-based) whose stored bytes do not match their checksum.
        case mismatch(chunk: Int)
        case notChecked
    }

    public struct SectionReport: Sendable {
        public let section: CheckpointSection
        public let checksum: ChecksumStatus
    }

    public let path: String
    public let formatVersion: UInt32
    public let fileBytes: Int
    public let headerBytes: Int
    /// The caller's metadata, pretty-printed JSON.
    public let metadataJSON: String
    public let sections: [SectionReport]

    public var rawBytes: Int { sections.reduce(0) { $0 + $1.section.rawBytes } }
    public var storedBytes: Int { sections.reduce(0) { $0 + $1.section.storedBytes } }
    public var compressionRatio: Double { storedBytes == 0 ? 1 : Double(rawBytes) / Double(storedBytes) }
}

extension CheckpointReader {
    /// Summarizes the checkpoint; with `verifyChecksums` every stored byte is read and checked.
    public func inspect(verifyChecksums: Bool = true) throws(CheckpointError) -> CheckpointInspection {
        var reports: [CheckpointInspection.SectionReport] = []
        for section in sections {
            var status = CheckpointInspection.ChecksumStatus.notChecked
            if verifyChecksums {
                status = try firstCorruptChunk(section).map { .mismatch(chunk: $0) } ?? .verified
            }
            reports.append(.init(section: section, checksum: status))
        }
        return CheckpointInspection(path: path, formatVersion: CheckpointFormat.version, fileBytes: fileBytes,
                                    headerBytes: headerBytes, metadataJSON: try metadataJSON(), sections: reports)
    }
}
