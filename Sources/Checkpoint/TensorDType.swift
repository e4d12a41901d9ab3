// Element types and tensor descriptions of the safetensors format (the dtype strings are the
// format's own spelling).

public enum TensorDType: String, Sendable, CaseIterable {
    case f32 = "F32", f64 = "F64", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool: return 1
        }
    }
}

/// One tensor of a safetensors file: its name, element type, shape and element count (the product
/// of the shape; 1 for a scalar, whose shape is []).
public struct TensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: TensorDType
    public let shape: [Int]
    public let count: Int

    public init(name: String, dtype: TensorDType, shape: [Int], count: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.count = count
    }
}

/// The element count of `shape`, or nil if a dimension is negative or the product overflows.
func elementCount(of shape: [Int]) -> Int? {
    var count = 1
    for dimension in shape {
        guard dimension >= 0 else { return nil }
        let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
        if overflow { return nil }
        count = product
    }
    return count
}
