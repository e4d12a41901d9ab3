// JPEG through TurboJPEG (the only file that imports CTurboJPEG):
//   - decoding to RGB with the library's defaults (accurate integer DCT, fancy upsampling), as
//     Pillow decodes, optionally reduced by 1/2, 1/4 or 1/8 in the DCT domain (the scaling factors
//     libjpeg-turbo accelerates); grey JPEGs come out as RGB, CMYK and YCCK ones are decoded as
//     CMYK and taken as Adobe (inverted) CMYK, as Photoshop writes them: R = C * K / 255, ...
//   - a truncated file is refused: either the header has no frame (width = height = 0) or libjpeg
//     warns "Premature end of JPEG file". Other libjpeg warnings (e.g. extraneous bytes before a
//     marker) leave a complete image, which is kept, as Pillow keeps it.
//   - encoding RGB to JPEG (tjCompress2), for tests and synthetic benchmark data.

import CTurboJPEG

enum JPEGCodec {
    static let maxPixels = 178_956_970  // Pillow's decompression-bomb limit (2 x 89,478,485)

    struct Header {
        let width: Int
        let height: Int
        let isCMYK: Bool
    }

    static func isJPEG(_ bytes: UnsafePointer<UInt8>, count: Int) -> Bool {
        count >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF
    }

    static func header(_ bytes: UnsafePointer<UInt8>, count: Int, handle: tjhandle, file: String) throws(DataError) -> Header {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle, bytes, UInt(count), &width, &height, &subsampling, &colorspace) == 0 else {
            throw .badImage(file: file, reason: "corrupt JPEG: \(message(handle))")
        }
        guard width > 0 && height > 0 else { throw .badImage(file: file, reason: "truncated JPEG: no frame header") }
        let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        return Header(width: Int(width), height: Int(height), isCMYK: cmyk)
    }

    /// Width and height after reducing by 1/`reduction` (TJSCALED: rounded up).
    static func reducedSize(_ header: Header, reduction: Int) -> (width: Int, height: Int) {
        ((header.width + reduction - 1) / reduction, (header.height + reduction - 1) / reduction)
    }

    /// Decodes at 1/`reduction` (1, 2, 4 or 8) into `image` as packed RGB; returns the decoded size.
    static func decode(_ bytes: UnsafePointer<UInt8>, count: Int, header: Header, reduction: Int, handle: tjhandle,
                       into image: GrowableBuffer<UInt8>, file: String) throws(DataError) -> (width: Int, height: Int) {
        precondition([1, 2, 4, 8].contains(reduction), "JPEGCodec: unsupported reduction 1/\(reduction)")
        let (width, height) = reducedSize(header, reduction: reduction)
        guard width * height <= maxPixels else {
            throw .badImage(file: file, reason: "JPEG of \(header.width)x\(header.height) exceeds \(maxPixels) pixels")
        }
        let channels = header.isCMYK ? 4 : 3
        let format = header.isCMYK ? TJPF_CMYK : TJPF_RGB
        let pixels = image.reserve(width * height * channels)
        let status = tjDecompress2(handle, bytes, UInt(count), pixels, Int32(width), 0, Int32(height), Int32(format.rawValue), 0)
        if status != 0 {
            let text = message(handle)
            let warning = tjGetErrorCode(handle) == Int32(TJERR_WARNING.rawValue)
            if !warning { throw .badImage(file: file, reason: "corrupt JPEG: \(text)") }
            if text.contains("Premature end") { throw .badImage(file: file, reason: "truncated JPEG: \(text)") }
        }
        if header.isCMYK { invertedCMYKToRGB(pixels, pixels: width * height) }
        return (width, height)
    }

    /// In place: 4 bytes of Adobe CMYK per pixel become 3 bytes of RGB (each channel times K / 255, rounded).
    private static func invertedCMYKToRGB(_ buffer: UnsafeMutablePointer<UInt8>, pixels: Int) {
        for p in 0..<pixels {
            let source = buffer + 4 * p, target = buffer + 3 * p
            let k = UInt32(source[3])
            let (c, m, y) = (UInt32(source[0]), UInt32(source[1]), UInt32(source[2]))
            target[0] = UInt8((c * k + 127) / 255)
            target[1] = UInt8((m * k + 127) / 255)
            target[2] = UInt8((y * k + 127) / 255)
        }
    }

    private static func message(_ handle: tjhandle) -> String {
        guard let text = tjGetErrorStr2(handle) else { return "unknown error" }
        return String(cString: text)
    }

    /// Encodes width x height pixels of `channels` (3: RGB, 4: CMYK, 1: grey) bytes at `quality`.
    static func encode(_ pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int) -> [UInt8] {
        precondition(pixels.count == width * height * channels, "JPEGCodec.encode: pixel count")
        let format: TJPF, subsampling: TJSAMP
        switch channels {
        case 1: (format, subsampling) = (TJPF_GRAY, TJSAMP_GRAY)
        case 3: (format, subsampling) = (TJPF_RGB, TJSAMP_420)
        case 4: (format, subsampling) = (TJPF_CMYK, TJSAMP_420)
        default: preconditionFailure("JPEGCodec.encode: \(channels) channels")
        }
        let handle = tjInitCompress()!
        defer { tjDestroy(handle) }
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let status = tjCompress2(handle, pixels, Int32(width), 0, Int32(height), Int32(format.rawValue), &output, &size,
                                 Int32(subsampling.rawValue), Int32(quality), 0)
        precondition(status == 0, "tjCompress2 failed: \(message(handle))")
        defer { tjFree(output) }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }
}
