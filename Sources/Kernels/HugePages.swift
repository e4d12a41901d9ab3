// Large working buffers on transparent huge pages. The kernels walk several big tensors at once
// (Winograd tiles at nine strides, their products, weights, outputs): on 4 KiB pages that is a
// TLB miss per few cache lines. Linux backs an madvise(MADV_HUGEPAGE) mapping with 2 MiB pages
// when the system's THP mode is "madvise" (the Debian default) or "always"; elsewhere the advice
// is ignored and the mapping works as plain pages.
import Glibc

/// `count` zero-filled elements of T in an anonymous mapping advised for huge pages. Release with
/// `releaseHugePageBuffer(_:count:)`.
public func allocateHugePageBuffer<T>(of _: T.Type, count: Int) -> UnsafeMutablePointer<T> {
    let bytes = max(1, count * MemoryLayout<T>.stride)
    guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED else {
        fatalError("out of memory: could not map \(bytes) bytes for the activation arena")
    }
    if bytes >= 2 << 20 { _ = madvise(raw, bytes, MADV_HUGEPAGE) }
    return raw.bindMemory(to: T.self, capacity: max(1, count))
}

public func releaseHugePageBuffer<T>(_ buffer: UnsafeMutablePointer<T>, count: Int) {
    munmap(UnsafeMutableRawPointer(buffer), max(1, count * MemoryLayout<T>.stride))
}
