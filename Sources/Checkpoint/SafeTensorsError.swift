// Everything that can go wrong reading or writing a safetensors file, each case a one-line message
// that starts with the file concerned.

public enum SafeTensorsError: Error, CustomStringConvertible, Equatable {
    /// A failed system call.
    case io(operation: String, path: String, reason: String)
    /// The directory cannot take new files.
    case notWritable(directory: String, reason: String)
    /// Fewer than the 8 bytes of the header length.
    case tooShort(path: String, fileBytes: Int)
    /// The declared header length runs past the end of the file.
    case headerTooLarge(path: String, headerBytes: UInt64, fileBytes: Int)
    /// The declared header length is above the 100 MB sanity limit.
    case headerOverLimit(path: String, headerBytes: UInt64)
    /// The header is not the JSON object the format prescribes.
    case invalidHeader(path: String, reason: String)
    /// A tensor's dtype is not one of TensorDType's.
    case unknownDType(path: String, tensor: String, dtype: String)
    /// A tensor's shape has a negative dimension or too many elements.
    case invalidShape(path: String, tensor: String, shape: [Int])
    /// A tensor's data_offsets are reversed or lie outside the data section.
    case offsetsOutOfRange(path: String, tensor: String, begin: Int, end: Int, dataBytes: Int)
    /// A tensor's byte range does not match its shape and dtype.
    case sizeMismatch(path: String, tensor: String, expectedBytes: Int, actualBytes: Int)
    /// Two tensors share bytes.
    case overlap(path: String, first: String, second: String)
    /// No tensor of that name.
    case missingTensor(path: String, tensor: String)
    /// The tensor exists with another dtype.
    case wrongDType(path: String, tensor: String, expected: TensorDType, actual: TensorDType)
    /// A writer was given two tensors of one name.
    case duplicateTensor(path: String, tensor: String)
    /// A writer was given a shape whose product is not the element count.
    case shapeMismatch(path: String, tensor: String, shape: [Int], count: Int)

    public var description: String {
        switch self {
        case .io(let operation, let path, let reason):
            return "\(path): \(operation) failed: \(reason)"
        case .notWritable(let directory, let reason):
            return "\(directory): directory is not writable: \(reason)"
        case .tooShort(let path, let fileBytes):
            return "\(path): file is \(fileBytes) bytes, too short for the 8-byte header length"
        case .headerTooLarge(let path, let headerBytes, let fileBytes):
            return "\(path): header length \(headerBytes) exceeds file size \(fileBytes)"
        case .headerOverLimit(let path, let headerBytes):
            return "\(path): header length \(headerBytes) exceeds the 100 MB limit"
        case .invalidHeader(let path, let reason):
            return "\(path): invalid header: \(reason)"
        case .unknownDType(let path, let tensor, let dtype):
            return "\(path): tensor '\(tensor)' has unknown dtype '\(dtype)'"
        case .invalidShape(let path, let tensor, let shape):
            return "\(path): tensor '\(tensor)' has invalid shape \(shape)"
        case .offsetsOutOfRange(let path, let tensor, let begin, let end, let dataBytes):
            return "\(path): tensor '\(tensor)' data_offsets [\(begin), \(end)] outside the \(dataBytes)-byte data section"
        case .sizeMismatch(let path, let tensor, let expectedBytes, let actualBytes):
            return "\(path): tensor '\(tensor)' spans \(actualBytes) bytes, its shape and dtype need \(expectedBytes)"
        case .overlap(let path, let first, let second):
            return "\(path): tensors '\(first)' and '\(second)' overlap"
        case .missingTensor(let path, let tensor):
            return "\(path): no tensor '\(tensor)'"
        case .wrongDType(let path, let tensor, let expected, let actual):
            return "\(path): tensor '\(tensor)' is \(actual.rawValue), not \(expected.rawValue)"
        case .duplicateTensor(let path, let tensor):
            return "\(path): tensor '\(tensor)' added twice"
        case .shapeMismatch(let path, let tensor, let shape, let count):
            return "\(path): tensor '\(tensor)' has shape \(shape) but \(count) elements"
        }
    }
}
