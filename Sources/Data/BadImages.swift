// What a file source does with an image it cannot use (missing, unreadable, corrupt, truncated):
//   stop        throw DataError.badImage (the CLI's --strict);
//   substitute  write the next usable sample instead (index + 1, + 2, ... wrapping; its own label
//               and its own random crop), count it and warn once per bad image. Every rank keeps its
//               batch sizes and batch count, so no rank waits for another; a substituted evaluation
//               sample counts the substitute once in its place, so the evaluated total stays exact.
//               After 64 bad images in a row the source gives up (DataError.tooManyBadImages).
// BadImageLog is shared by the splits of a data set and safe to use from any thread.

import Foundation

public enum BadImagePolicy: String, Sendable, Equatable {
    case stop
    case substitute

    static let maxSubstitutions = 64

    /// Runs `read(i)`; under `.substitute`, a badImage error moves on to i + 1, i + 2, ... (mod
    /// count). Returns the index whose sample was written.
    func read(_ i: Int, count: Int, log: BadImageLog, name: (Int) -> String,
              _ read: (Int) throws(DataError) -> Void) throws(DataError) -> Int {
        var firstError: DataError?
        for attempt in 0..<min(Self.maxSubstitutions, count) {
            let j = (i + attempt) % count
            do throws(DataError) {
                try read(j)
                if let firstError { log.recordSubstitution(of: firstError, file: name(i), by: name(j)) }
                return j
            } catch {
                guard self == .substitute, case .badImage = error else { throw error }
                if firstError == nil { firstError = error }
            }
        }
        throw .tooManyBadImages(file: name(i), count: min(Self.maxSubstitutions, count))
    }
}

public final class BadImageLog: @unchecked Sendable {
    private let lock = NSLock()
    private var bad: Set<String> = []
    private var substituted = 0
    private let warn: @Sendable (String) -> Void

    /// `warn` receives one line per newly seen bad image.
    public init(warn: @escaping @Sendable (String) -> Void) {
        self.warn = warn
    }

    /// Distinct unusable images seen so far.
    public var badImageCount: Int { lock.withLock { bad.count } }
    /// Samples replaced by another so far (a bad image read in several epochs counts each time).
    public var substitutionCount: Int { lock.withLock { substituted } }

    func recordSubstitution(of error: DataError, file: String, by substitute: String) {
        let isNew = lock.withLock { () -> Bool in
            substituted += 1
            return bad.insert(file).inserted
        }
        if isNew { warn("warning: \(error); using \(substitute) in its place") }
    }

    /// Writes "warning: ..." lines to standard error.
    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
    }
}
