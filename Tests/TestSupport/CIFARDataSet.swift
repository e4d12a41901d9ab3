// A small CIFAR-10 set in the binary format (records of 1 label byte + 32 x 32 x 3 pixels, planar):
// RGB data for the tests that need 3-channel images.
import Foundation

public enum CIFARDataSet {
    /// Writes data_batch_1..5.bin with `perFile` records each and test_batch.bin with `test`
    /// records into `directory` (for `--data cifar10:DIRECTORY`). Labels cycle through 0-9.
    public static func write(to directory: String, perFile: Int = 4, test: Int = 10) throws {
        var record = 0
        func batch(_ name: String, _ count: Int) throws {
            var bytes: [UInt8] = []
            for _ in 0..<count {
                bytes.append(UInt8(record % 10))
                bytes += (0..<3072).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ record &* 13) }
                record += 1
            }
            try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
        }
        for i in 1...5 { try batch("data_batch_\(i).bin", perFile) }
        try batch("test_batch.bin", test)
    }
}
