// ImageFolder trees made up for benchmarks (`wavemix bench --data ... --generate-jpegs/--generate-empty`):
//   JPEGs    ImageNet-like: 400-500 x 300-400 pixels, a smooth pattern under per-pixel noise so the
//            files compress about as much as ImageNet's photographs (~95 KB at quality 90; ImageNet: ~110 KB), spread over
//            `classes` classes in DIR/train, and one image per class in DIR/val;
//   empty    zero-byte .JPEG files, to time index building alone (1.28 million for ImageNet).
// Each image depends only on its index, so a tree is the same whenever it is made.

import Dispatch
import Foundation
import Randomness

public enum SyntheticTree {
    /// Writes `trainImages` JPEGs over `classes` classes (and `classes` more in val/); returns the bytes written.
    public static func writeJPEGs(into dir: String, trainImages: Int, classes: Int, threads: Int) throws(DataError) -> Int {
        let files = layout(dir, trainFiles: trainImages, classes: classes)
        try makeDirectories(dir, classes: classes)
        let written = UnsafeMutableBufferPointer<Int>.allocate(capacity: files.count)
        written.initialize(repeating: -1)
        defer { written.deallocate() }
        let box = WrittenSizes(buffer: written)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for k in stride(from: t, to: files.count, by: threads) {
                var rng = SplitMix64(key: 0x5959, UInt64(k))
                let width = 400 + rng.nextInt(below: 101), height = 300 + rng.nextInt(below: 101)
                var pixels = [UInt8](repeating: 0, count: width * height * 3)
                let phase = Double(k % 97)
                func tone(_ value: Double) -> UInt8 {  // the smooth value plus noise in -48...48
                    UInt8(max(0, min(255, 128 + 90 * value + Double(rng.nextInt(below: 97)) - 48)))
                }
                for y in 0..<height {
                    let green = cos(Double(y) / 23 - phase)
                    for x in 0..<width {
                        let p = (y * width + x) * 3
                        pixels[p] = tone(sin(Double(x) / 37 + phase))
                        pixels[p + 1] = tone(green)
                        pixels[p + 2] = tone(sin(Double(x + y) / 51))
                    }
                }
                let bytes = JPEGCodec.encode(pixels, width: width, height: height, channels: 3, quality: 90)
                box.buffer[k] = FileManager.default.createFile(atPath: files[k], contents: Data(bytes)) ? bytes.count : -1
            }
        }
        if let failed = written.firstIndex(of: -1) { throw .unwritable(file: files[failed], reason: "could not create the file") }
        return written.reduce(0, +)
    }

    /// Writes `trainFiles` empty .JPEG files over `classes` classes (and `classes` more in val/).
    public static func writeEmptyFiles(into dir: String, trainFiles: Int, classes: Int) throws(DataError) {
        try makeDirectories(dir, classes: classes)
        for file in layout(dir, trainFiles: trainFiles, classes: classes) {
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .unwritable(file: file, reason: FileBytes.systemError()) }
            close(fd)
        }
    }

    private static func className(_ c: Int) -> String { String(format: "n%08d", c) }

    /// Train files round-robin over the classes, then one validation file per class.
    private static func layout(_ dir: String, trainFiles: Int, classes: Int) -> [String] {
        (0..<trainFiles).map { String(format: "%@/train/%@/%@_%d.JPEG", dir, className($0 % classes), className($0 % classes), $0) }
            + (0..<classes).map { String(format: "%@/val/%@/val_%d.JPEG", dir, className($0), $0) }
    }

    private static func makeDirectories(_ dir: String, classes: Int) throws(DataError) {
        for split in ["train", "val"] {
            for c in 0..<classes {
                let path = "\(dir)/\(split)/\(className(c))"
                do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
                    throw .unwritable(file: path, reason: fileErrorReason(error))
                }
            }
        }
    }
}

/// Per-file sizes written by the generating threads, each its own slots.
private struct WrittenSizes: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Int>
}
