// Gzip/zlib decompression into memory through zlib (with CRC32.swift, the only files that import CZlib).
// inflateInit2 with windowBits 15+32 auto-detects gzip and zlib headers; concatenated gzip members
// (as `cat a.gz b.gz` makes) are inflated one after another; damaged, truncated or trailing-garbage
// streams throw DataError.corruptGzip.

import CZlib

enum Gzip {
    /// True when the bytes start with the gzip magic 1f 8b.
    static func isGzip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Inflates the whole of `input`; `file` names it in errors.
    static func inflate(_ input: UnsafeRawBufferPointer, file: String) throws(DataError) -> [UInt8] {
        var stream = z_stream()
        let initStatus = inflateInit2_(&stream, 15 + 32, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard initStatus == Z_OK else {
            throw .corruptGzip(file: file, reason: "zlib inflateInit2 failed with status \(initStatus)")
        }
        defer { inflateEnd(&stream) }

        var output = [UInt8](repeating: 0, count: initialCapacity(input))
        var produced = 0
        var consumed = 0  // bytes of `input` handed to zlib so far
        let maxChunk = 1 << 30  // avail_in / avail_out are 32-bit
        let inputBase = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self)) }

        while true {
            if stream.avail_in == 0, consumed < input.count, let inputBase {
                let chunk = min(maxChunk, input.count - consumed)
                stream.next_in = inputBase + consumed
                stream.avail_in = uInt(chunk)
                consumed += chunk
            }
            if produced == output.count {
                output.append(contentsOf: repeatElement(0, count: max(output.count, 1 << 16)))
            }
            let room = min(maxChunk, output.count - produced)
            let status = output.withUnsafeMutableBufferPointer { buffer -> Int32 in
                stream.next_out = buffer.baseAddress! + produced
                stream.avail_out = uInt(room)
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            produced += room - Int(stream.avail_out)
            let inputLeft = stream.avail_in > 0 || consumed < input.count

            switch status {
            case Z_OK:
                continue
            case Z_STREAM_END:
                if !inputLeft {
                    output.removeSubrange(produced...)
                    return output
                }
                inflateReset(&stream)  // another gzip member follows
            case Z_BUF_ERROR where !inputLeft:
                throw .corruptGzip(file: file, reason: "truncated: input ends inside a compressed member")
            case Z_BUF_ERROR:
                continue
            case Z_DATA_ERROR:
                let message = stream.msg.map { String(cString: $0) } ?? "invalid data"
                throw .corruptGzip(file: file, reason: "\(message) (near compressed byte \(consumed - Int(stream.avail_in)))")
            case Z_MEM_ERROR:
                throw .corruptGzip(file: file, reason: "zlib ran out of memory")
            default:
                throw .corruptGzip(file: file, reason: "zlib inflate failed with status \(status)")
            }
        }
    }

    /// The gzip trailer's ISIZE (uncompressed size mod 2^32 of the last member) as a first guess,
    /// kept between 1x and 16x the compressed size so a damaged trailer cannot ask for gigabytes;
    /// the buffer doubles when the guess is short.
    private static func initialCapacity(_ input: UnsafeRawBufferPointer) -> Int {
        guard input.count >= 18 else { return max(input.count, 1 << 16) }
        let n = input.count
        let isize = Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24
        return max(min(isize, 16 * n), n, 1 << 16)
    }
}
