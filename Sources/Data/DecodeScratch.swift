// Per-thread scratch memory for decoding samples: the file's bytes, the decoded image, the
// resampler's intermediate rows and accumulator, and a TurboJPEG decompressor. Each thread that
// decodes gets its own (a pthread key), reuses it for every sample and frees it when it exits, so
// a sample costs no allocation once the buffers have grown; memory is bounded by
// threads x the largest image decoded.

import CTurboJPEG
import Foundation

final class DecodeScratch {
    let file = GrowableBuffer<UInt8>()
    let image = GrowableBuffer<UInt8>()
    let rows = GrowableBuffer<UInt8>()
    let accumulator = GrowableBuffer<Int32>()
    private var handle: tjhandle?

    /// This thread's scratch, created on first use.
    static var current: DecodeScratch {
        if let pointer = pthread_getspecific(scratchKey) {
            return Unmanaged<DecodeScratch>.fromOpaque(pointer).takeUnretainedValue()
        }
        let scratch = DecodeScratch()
        pthread_setspecific(scratchKey, Unmanaged.passRetained(scratch).toOpaque())
        return scratch
    }

    /// This thread's TurboJPEG decompressor (nil only if TurboJPEG cannot allocate one).
    var decompressor: tjhandle? {
        if handle == nil { handle = tjInitDecompress() }
        return handle
    }

    /// Drops the decompressor after an error: TurboJPEG 2.1 can leave a handle mid-decode
    /// ("Improper call to JPEG library in state ..." on every later image), so the next image gets a fresh one.
    func discardDecompressor() {
        if let handle { tjDestroy(handle) }
        handle = nil
    }

    deinit {
        if let handle { tjDestroy(handle) }
    }
}

/// Released with its thread: the destructor drops the reference `current` retained.
private let scratchKey: pthread_key_t = {
    var key = pthread_key_t()
    let status = pthread_key_create(&key) { pointer in
        if let pointer { Unmanaged<DecodeScratch>.fromOpaque(pointer).release() }
    }
    precondition(status == 0, "pthread_key_create failed with \(status)")
    return key
}()

/// A buffer that only grows (by at least half again, so repeated growth is amortised).
final class GrowableBuffer<Element> {
    private(set) var pointer: UnsafeMutablePointer<Element>
    private(set) var capacity: Int

    init() {
        capacity = 0
        pointer = .allocate(capacity: 1)
    }

    /// The buffer with room for at least `count` elements; earlier contents are not kept.
    func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            capacity = max(count, capacity + capacity / 2)
            pointer = .allocate(capacity: capacity)
        }
        return pointer
    }

    deinit { pointer.deallocate() }
}
