// What went wrong with a file operation, in words a user can act on: the system's reason ("No such
// file or directory") rather than Foundation's "The operation could not be completed.
// (NSCocoaErrorDomain error 512.)".
import Foundation

public func fileErrorReason(_ error: Error) -> String {
    let error = error as NSError
    if let underlying = error.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if error.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(error.code))) }
    if error.domain == NSCocoaErrorDomain {
        switch CocoaError.Code(rawValue: error.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return String(cString: strerror(ENOENT))
        case .fileReadNoPermission, .fileWriteNoPermission: return String(cString: strerror(EACCES))
        case .fileWriteOutOfSpace: return String(cString: strerror(ENOSPC))
        case .fileWriteVolumeReadOnly: return String(cString: strerror(EROFS))
        case .fileWriteFileExists: return String(cString: strerror(EEXIST))
        case .fileReadCorruptFile, .fileReadInapplicableStringEncoding: return "contents cannot be read as expected"
        default: return "the file operation failed (code \(error.code))"
        }
    }
    return error.localizedDescription
}
