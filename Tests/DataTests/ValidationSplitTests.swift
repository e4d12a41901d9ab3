// The validation split: a pure function of (seed, size), disjoint from the training part, covering
// the training split exactly once, in ascending order, with one-line errors for empty parts.
import Testing
@testable import Data

@Suite struct ValidationSplitTests {
    let source = syntheticImageSet(count: 1000, height: 4, width: 4, channels: 1, numClasses: 10, key: 3)

    @Test func theTwoPartsAreDisjointAndCoverTheTrainingSplit() throws {
        let (train, validation) = try ValidationSplit.split(source, size: .images(100), seed: 7)
        #expect(validation.count == 100 && train.count == 900)
        #expect(train.indices == train.indices.sorted() && validation.indices == validation.indices.sorted())
        #expect(Set(train.indices).isDisjoint(with: validation.indices))
        #expect((train.indices + validation.indices).sorted() == Array(0..<1000))
        // A random draw, not a block at either end.
        #expect(validation.indices.first! < 100 && validation.indices.last! > 900)
    }

    @Test func theSplitDependsOnTheSeedOnly() throws {
        let a = try ValidationSplit.split(source, size: .images(100), seed: 7).validation.indices
        #expect(a == (try ValidationSplit.split(source, size: .images(100), seed: 7).validation.indices))
        #expect(a != (try ValidationSplit.split(source, size: .images(100), seed: 8).validation.indices))
        #expect(a == (try ValidationSplit.split(source, size: .fraction(0.1), seed: 7).validation.indices))
    }

    @Test func subsetsReadTheSamplesTheyName() throws {
        let (_, validation) = try ValidationSplit.split(source, size: .images(10), seed: 1)
        var mine = [UInt8](repeating: 0, count: 16), theirs = [UInt8](repeating: 0, count: 16)
        for (i, original) in validation.indices.enumerated() {
            #expect(validation.label(i) == source.label(original))
            try mine.withUnsafeMutableBufferPointer { try validation.pixels(i, into: $0) }
            try theirs.withUnsafeMutableBufferPointer { try source.pixels(original, into: $0) }
            #expect(mine == theirs)
        }
    }

    @Test func sizesParseAndEmptyPartsAreRefused() throws {
        #expect(ValidationSize(parsing: "5000") == .images(5000))
        #expect(ValidationSize(parsing: "0.1") == .fraction(0.1))
        for bad in ["0", "-3", "1.0", "0.0", "1.5", "ten", ""] { #expect(ValidationSize(parsing: bad) == nil, "\(bad)") }
        #expect(ValidationSize.fraction(0.25).count(of: 1000) == 250)
        for size in [ValidationSize.images(1000), .images(5000), .fraction(0.0001)] {
            #expect(throws: DataError.self) { try ValidationSplit.split(source, size: size, seed: 0) }
        }
    }
}
