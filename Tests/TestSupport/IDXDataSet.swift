// Small IDX data sets written by tests (the MNIST file format): learnable class patterns plus
// noise, any size, so multi-rank runs are fast and counts can be chosen (e.g. not divisible by the
// world size).
import Foundation

public enum IDXDataSet {
    /// Writes train-*/t10k-* images and labels of `side` x `side` grey images into `directory`
    /// (for `--data idx:DIRECTORY`).
    public static func write(to directory: String, train: Int, test: Int, side: Int = 16, classes: Int = 10, seed: UInt32 = 1) throws {
        var state = seed
        func next() -> UInt32 { state = state &* 1_664_525 &+ 1_013_904_223; return state >> 8 }
        func split(_ name: String, _ count: Int) throws {
            var images: [UInt8] = [0, 0, 8, 3] + bigEndian(count) + bigEndian(side) + bigEndian(side)
            var labels: [UInt8] = [0, 0, 8, 1] + bigEndian(count)
            for _ in 0..<count {
                let label = Int(next() % UInt32(classes))
                labels.append(UInt8(label))
                for y in 0..<side {
                    for x in 0..<side {
                        // A bright bar whose position encodes the class, over noise.
                        let bar = (x + y * 3) % classes == label ? 160 : 0
                        images.append(UInt8(min(255, bar + Int(next() % 64))))
                    }
                }
            }
            try Data(images).write(to: URL(fileURLWithPath: "\(directory)/\(name)-images-idx3-ubyte"))
            try Data(labels).write(to: URL(fileURLWithPath: "\(directory)/\(name)-labels-idx1-ubyte"))
        }
        try split("train", train)
        try split("t10k", test)
    }

    private static func bigEndian(_ v: Int) -> [UInt8] {
        [UInt8(v >> 24 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
    }
}
