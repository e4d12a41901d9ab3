// The tests' one scratch-directory helper: a fresh directory under the system temporary directory,
// removed with everything in it when the object is released (Swift Testing suites hold it in a
// local) or, through temporaryDirectory(test), when an XCTest test ends.
import Foundation
import XCTest

public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    /// `prefix` names the directory (wavemix-<prefix>-XXXXXX), which helps when one is left behind.
    public init(_ prefix: String = "test") {
        var template = Array((NSTemporaryDirectory() as NSString).appendingPathComponent("wavemix-\(prefix)-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            preconditionFailure("cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The full path of `name` inside the directory.
    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Writes `bytes` to `name` inside the directory and returns the full path.
    @discardableResult
    public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = self.file(name)
        try Foundation.Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    public func read(_ name: String) throws -> [UInt8] {
        [UInt8](try Foundation.Data(contentsOf: URL(fileURLWithPath: file(name))))
    }

    /// Writes `bytes` to the relative path `name`, creating its directories.
    @discardableResult
    public func create(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = self.file(name)
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Foundation.Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    public func mkdir(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: file(name), withIntermediateDirectories: true)
    }
}

/// A fresh temporary directory, removed when the XCTest test ends.
public func temporaryDirectory(_ test: XCTestCase, _ name: String = "test") -> String {
    let directory = TemporaryDirectory(name)
    test.addTeardownBlock { withExtendedLifetime(directory) {} }
    return directory.path
}
