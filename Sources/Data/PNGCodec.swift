// PNG through libpng's simplified API (the only file that imports CPNG): every PNG (grey, palette,
// with or without alpha, 8 or 16 bits) is read as 8-bit RGBA and the alpha is dropped, as Pillow's
// convert("RGB") drops it. libpng converts 16-bit samples to 8-bit sRGB and applies a gAMA chunk,
// which Pillow ignores, so such PNGs may differ slightly from Pillow's bytes. Writing (for
// `wavemix plot`) takes 8-bit RGB.

import CPNG

public enum PNGCodec {
    static func isPNG(_ bytes: UnsafePointer<UInt8>, count: Int) -> Bool {
        let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        return count >= 8 && (0..<8).allSatisfy { bytes[$0] == signature[$0] }
    }

    /// Decodes into `image` as packed RGB; returns the size.
    static func decode(_ bytes: UnsafePointer<UInt8>, count: Int, into image: GrowableBuffer<UInt8>,
                       file: String) throws(DataError) -> (width: Int, height: Int) {
        var png = png_image()
        png.version = cpng_image_version()
        guard png_image_begin_read_from_memory(&png, bytes, count) != 0 else {
            throw .badImage(file: file, reason: "corrupt PNG: \(message(&png))")
        }
        let width = Int(png.width), height = Int(png.height)
        guard width * height <= JPEGCodec.maxPixels else {
            png_image_free(&png)
            throw .badImage(file: file, reason: "PNG of \(width)x\(height) exceeds \(JPEGCodec.maxPixels) pixels")
        }
        png.format = cpng_format_rgba()
        let pixels = image.reserve(width * height * 4)
        guard png_image_finish_read(&png, nil, pixels, 0, nil) != 0 else {
            throw .badImage(file: file, reason: "corrupt PNG: \(message(&png))")
        }
        for p in 0..<(width * height) {  // in place, forwards: RGBA -> RGB
            pixels[3 * p] = pixels[4 * p]
            pixels[3 * p + 1] = pixels[4 * p + 1]
            pixels[3 * p + 2] = pixels[4 * p + 2]
        }
        return (width, height)
    }

    /// The PNG file of `pixels`, packed 8-bit RGB rows from the top; `file` names it in errors.
    public static func encode(rgb pixels: [UInt8], width: Int, height: Int, file: String) throws(DataError) -> [UInt8] {
        precondition(pixels.count == width * height * 3, "encode(rgb:) needs width x height x 3 bytes")
        var png = png_image()
        png.version = cpng_image_version()
        png.width = UInt32(width)
        png.height = UInt32(height)
        png.format = cpng_format_rgb()
        // The first call measures, the second writes (the size may shrink).
        var size: png_alloc_size_t = 0
        guard png_image_write_to_memory(&png, nil, &size, 0, pixels, 0, nil) != 0 else {
            throw .unwritable(file: file, reason: "PNG encoding failed: \(message(&png))")
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        guard png_image_write_to_memory(&png, &bytes, &size, 0, pixels, 0, nil) != 0 else {
            throw .unwritable(file: file, reason: "PNG encoding failed: \(message(&png))")
        }
        bytes.removeSubrange(Int(size)...)
        return bytes
    }

    private static func message(_ png: inout png_image) -> String {
        withUnsafeBytes(of: &png.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
