// Turns one stored image into a size x size RGB sample under a crop policy: reads the file,
// recognises JPEG or PNG by its first bytes (not its extension: ImageNet's training set holds a PNG
// and CMYK JPEGs named .JPEG), computes the policy's geometry on the original size, decodes (a
// JPEG reduced by 1/2, 1/4 or 1/8 in the DCT domain when the crop shrinks at least that much on
// both axes and `dctDownscale` is on) and resamples. Without the reduction the bytes are those of
// torchvision on Pillow; with it they differ slightly (DCT-domain averaging before the bilinear step).

public struct SampleDecoder: Sendable, Equatable {
    public let size: Int
    public let crop: CropPolicy
    public let dctDownscale: Bool

    public init(size: Int, crop: CropPolicy, dctDownscale: Bool = true) {
        precondition(size > 0, "SampleDecoder: size must be positive")
        if case let .centre(resize) = crop { precondition(resize >= size, "SampleDecoder: resize \(resize) below crop \(size)") }
        self.size = size
        self.crop = crop
        self.dctDownscale = dctDownscale
    }

    /// Decodes `file` as sample `index` of `epoch` into `output` (size * size * 3 bytes).
    func decode(file: String, seed: UInt64, epoch: Int, index: Int, into output: UnsafeMutablePointer<UInt8>) throws(DataError) {
        let scratch = DecodeScratch.current
        let count = try FileBytes.read(file, into: scratch.file)
        let bytes = UnsafePointer(scratch.file.pointer)
        if JPEGCodec.isJPEG(bytes, count: count) {
            do throws(DataError) {
                try decodeJPEG(bytes, count: count, file: file, seed: seed, epoch: epoch, index: index, scratch: scratch, into: output)
            } catch {
                scratch.discardDecompressor()
                throw error
            }
        } else if PNGCodec.isPNG(bytes, count: count) {
            let decoded = try PNGCodec.decode(bytes, count: count, into: scratch.image, file: file)
            let geometry = crop.geometry(width: decoded.width, height: decoded.height, size: size, seed: seed, epoch: epoch, index: index)
            Self.resample(scratch.image.pointer, width: decoded.width, geometry: geometry, scratch: scratch, into: output)
        } else {
            let start = (0..<min(count, 4)).map { String(bytes[$0], radix: 16) }.joined(separator: " ")
            throw .badImage(file: file, reason: count == 0 ? "empty file" : "neither JPEG nor PNG (starts with \(start))")
        }
    }

    private func decodeJPEG(_ bytes: UnsafePointer<UInt8>, count: Int, file: String, seed: UInt64, epoch: Int, index: Int,
                            scratch: DecodeScratch, into output: UnsafeMutablePointer<UInt8>) throws(DataError) {
        guard let handle = scratch.decompressor else { throw .badImage(file: file, reason: "TurboJPEG could not allocate a decoder") }
        let header = try JPEGCodec.header(bytes, count: count, handle: handle, file: file)
        let geometry = crop.geometry(width: header.width, height: header.height, size: size, seed: seed, epoch: epoch, index: index)
        var reduction = 1
        if dctDownscale {
            let shrink = min(geometry.horizontal.shrink, geometry.vertical.shrink)
            reduction = [8, 4, 2].first { Double($0) <= shrink } ?? 1
        }
        let decoded = try JPEGCodec.decode(bytes, count: count, header: header, reduction: reduction, handle: handle,
                                           into: scratch.image, file: file)
        let scaled = geometry.scaled(width: header.width, height: header.height, decodedWidth: decoded.width, decodedHeight: decoded.height)
        Self.resample(scratch.image.pointer, width: decoded.width, geometry: scaled, scratch: scratch, into: output)
    }

    /// Crops an RGB image already in memory (a packed record) as sample `index` of `epoch`.
    func cropImage(_ image: UnsafePointer<UInt8>, width: Int, height: Int, seed: UInt64, epoch: Int, index: Int,
              into output: UnsafeMutablePointer<UInt8>) {
        let geometry = crop.geometry(width: width, height: height, size: size, seed: seed, epoch: epoch, index: index)
        Self.resample(image, width: width, geometry: geometry, scratch: DecodeScratch.current, into: output)
    }

    static func resample(_ image: UnsafePointer<UInt8>, width: Int, geometry: SampleGeometry, scratch: DecodeScratch,
                                 into output: UnsafeMutablePointer<UInt8>) {
        let horizontal = geometry.horizontal.resampleAxis, vertical = geometry.vertical.resampleAxis
        let rows = scratch.rows.reserve(Resample.scratchBytes(horizontal: horizontal, vertical: vertical, channels: 3))
        let accumulator = scratch.accumulator.reserve(horizontal.first.count * 3)
        Resample.run(source: image, sourceRowBytes: width * 3, channels: 3, horizontal: horizontal, vertical: vertical,
                     scratch: rows, accumulator: accumulator, output: output)
    }
}
