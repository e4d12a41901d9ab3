// `--val-split`: a validation set carved out of the training split, so that model selection never
// looks at the test set. Which images go to validation is a pure function of (seed, training-set
// size, validation size): a Fisher-Yates permutation drawn from SplitMix64(seed, count, salt), whose
// first N entries are the validation images. Both parts keep the source's order (ascending indices),
// so a split of a file set still reads its files in order.
import Randomness

/// How many training images become the validation set.
public enum ValidationSize: Sendable, Equatable, Codable, CustomStringConvertible {
    case images(Int)
    /// A fraction in (0, 1) of the training images, rounded to the nearest image.
    case fraction(Double)

    /// "5000" (images) or "0.1" (a fraction); nil for anything else.
    public init?(parsing text: String) {
        if let count = Int(text) {
            guard count >= 1 else { return nil }
            self = .images(count)
        } else if let fraction = Double(text), fraction > 0, fraction < 1 {
            self = .fraction(fraction)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .images(let count): "\(count)"
        case .fraction(let fraction): "\(fraction)"
        }
    }

    /// The number of validation images out of `total` training images.
    public func count(of total: Int) -> Int {
        switch self {
        case .images(let count): count
        case .fraction(let fraction): Int((fraction * Double(total)).rounded())
        }
    }

    // Stored as the text a user types ("5000", "0.1").
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let size = ValidationSize(parsing: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad validation size '\(text)'"))
        }
        self = size
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The samples `indices` of `base`, renumbered 0..<indices.count.
public struct SubsetSource: ImageSource {
    public let base: any ImageSource
    public let indices: [Int]

    public init(base: any ImageSource, indices: [Int]) {
        precondition(indices.allSatisfy { (0..<base.count).contains($0) }, "SubsetSource: index outside the source")
        self.base = base
        self.indices = indices
    }

    public var count: Int { indices.count }
    public var height: Int { base.height }
    public var width: Int { base.width }
    public var channels: Int { base.channels }
    public var numClasses: Int { base.numClasses }

    public func label(_ i: Int) -> Int { base.label(indices[i]) }

    public func pixels(_ i: Int, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) {
        try base.pixels(indices[i], into: buffer)
    }

    public func sample(_ i: Int, epoch: Int, seed: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>) throws(DataError) -> Int {
        try base.sample(indices[i], epoch: epoch, seed: seed, into: buffer)
    }
}

public enum ValidationSplit {
    /// Salt of the permutation stream (see DataRandomKeys).
    static let salt: UInt64 = 0x5641_4C53  // "VALS"

    /// The training and validation parts of `train`. Throws when the split would leave either part empty.
    public static func split(_ train: any ImageSource, size: ValidationSize, seed: UInt64) throws(DataError)
        -> (train: SubsetSource, validation: SubsetSource) {
        let total = train.count
        let count = size.count(of: total)
        guard count >= 1, count < total else {
            throw .badSplit("--val-split \(size) takes \(count) of the \(total) training images; "
                            + "both the validation and the training part need at least one")
        }
        var order = Array(0..<total)
        var rng = SplitMix64(key: seed, UInt64(total), salt)
        for i in stride(from: total - 1, to: 0, by: -1) {
            order.swapAt(i, rng.nextInt(below: i + 1))
        }
        let validation = order[..<count].sorted()
        var isValidation = [Bool](repeating: false, count: total)
        for i in validation { isValidation[i] = true }
        let rest = (0..<total).filter { !isValidation[$0] }
        return (SubsetSource(base: train, indices: rest), SubsetSource(base: train, indices: validation))
    }
}
