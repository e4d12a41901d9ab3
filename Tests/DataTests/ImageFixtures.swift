// Image files and data set trees for the tests, all generated here: JPEGs through TurboJPEG
// (JPEGCodec.encode), PNGs through a minimal writer (stored deflate blocks, so independent of the
// decoder under test), MATLAB 5 files like the ImageNet devkit's meta.mat, and CIFAR binary batches.

import TestSupport
import Foundation
import Kernels
@testable import Data

/// A smooth RGB pattern (compresses like a photograph, unlike noise) that differs with `key`.
func patternImage(width: Int, height: Int, key: Int) -> [UInt8] {
    var pixels: [UInt8] = []
    pixels.reserveCapacity(width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let fx = Double(x) / Double(width), fy = Double(y) / Double(height), k = Double(key)
            pixels.append(UInt8(127.5 + 127 * sin(6 * fx + k)))
            pixels.append(UInt8(127.5 + 127 * cos(5 * fy + 2 * k)))
            pixels.append(UInt8(127.5 + 127 * sin(4 * (fx + fy) + 3 * k)))
        }
    }
    return pixels
}

func jpeg(width: Int, height: Int, key: Int, quality: Int = 90) -> [UInt8] {
    JPEGCodec.encode(patternImage(width: width, height: height, key: key), width: width, height: height, channels: 3, quality: quality)
}

/// An 8-bit PNG of `pixels` with colour type 0 (grey), 2 (RGB), 4 (grey + alpha) or 6 (RGBA).
func png(width: Int, height: Int, colorType: UInt8, pixels: [UInt8]) -> [UInt8] {
    let channels = [0: 1, 2: 3, 4: 2, 6: 4][Int(colorType)]!
    precondition(pixels.count == width * height * channels)
    func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return bigEndian(UInt32(data.count)) + body + bigEndian(body.withUnsafeBytes { CRC32.checksum($0) })
    }
    var raw: [UInt8] = []
    for y in 0..<height { raw += [0] + pixels[(y * width * channels)..<((y + 1) * width * channels)] }
    var zlib: [UInt8] = [0x78, 0x01]
    var offset = 0
    repeat {
        let n = min(65535, raw.count - offset)
        zlib += [offset + n == raw.count ? 1 : 0, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
        zlib += raw[offset..<(offset + n)]
        offset += n
    } while offset < raw.count
    var (a, b): (UInt32, UInt32) = (1, 0)
    for byte in raw { a = (a + UInt32(byte)) % 65521; b = (b + a) % 65521 }
    zlib += bigEndian(b << 16 | a)
    let header = bigEndian(UInt32(width)) + bigEndian(UInt32(height)) + [8, colorType, 0, 0, 0]
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", zlib) + chunk("IEND", [])
}

/// A MATLAB 5 file holding `synsets`, a struct array like the devkit's meta.mat (numbers as
/// doubles, strings as UTF-16), optionally inside a compressed element.
func metaMat(_ synsets: [(id: Int, wnid: String, words: String, children: Int)], compressed: Bool) throws -> [UInt8] {
    func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    func element(_ type: UInt32, _ data: [UInt8]) -> [UInt8] {
        le32(type) + le32(UInt32(data.count)) + data + [UInt8](repeating: 0, count: (8 - data.count % 8) % 8)
    }
    func matrix(class arrayClass: UInt8, dims: [Int], name: String, body: [UInt8]) -> [UInt8] {
        let flags = element(6, [arrayClass, 0, 0, 0, 0, 0, 0, 0])
        let dimensions = element(5, dims.flatMap { le32(UInt32($0)) })
        return element(14, flags + dimensions + element(1, Array(name.utf8)) + body)
    }
    func double(_ v: Double) -> [UInt8] {
        matrix(class: 6, dims: [1, 1], name: "", body: element(9, withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init)))
    }
    func text(_ s: String) -> [UInt8] {
        matrix(class: 4, dims: [1, s.utf16.count], name: "", body: element(4, s.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))
    }
    let fields = ["ILSVRC2012_ID", "WNID", "words", "num_children"]
    var body = le32(5 | 4 << 16) + le32(32)  // small element: field name length 32
    body += element(1, fields.flatMap { Array($0.utf8) + [UInt8](repeating: 0, count: 32 - $0.utf8.count) })
    for s in synsets { body += double(Double(s.id)) + text(s.wnid) + text(s.words) + double(Double(s.children)) }
    let array = matrix(class: 2, dims: [synsets.count, 1], name: "synsets", body: body)
    let header = Array("MATLAB 5.0 MAT-file, written by the wavemix tests".utf8)
    var bytes = header + [UInt8](repeating: 0x20, count: 116 - header.count) + [UInt8](repeating: 0, count: 8)
    bytes += [0x00, 0x01, UInt8(ascii: "I"), UInt8(ascii: "M")]
    if compressed {
        let packed = try gzip(array)
        return bytes + le32(15) + le32(UInt32(packed.count)) + packed
    }
    return bytes + array
}

/// Writes an ImageFolder-style class tree: `classes` subdirectories of `split` with `perClass[c]`
/// JPEGs each (named img<k>.jpg, of varying sizes); returns the relative paths in torchvision order.
@discardableResult
func writeClassTree(_ dir: TemporaryDirectory, split: String, classes: [String], perClass: [Int], ext: String = "jpg",
                    key: Int = 0) throws -> [String] {
    var paths: [String] = []
    for (c, name) in classes.enumerated() {
        for k in 0..<perClass[c] {
            let relative = "\(name)/img\(k).\(ext)"
            try dir.create("\(split)/\(relative)", jpeg(width: 40 + 4 * k, height: 30 + 3 * c, key: key + 10 * c + k))
            paths.append(relative)
        }
    }
    return paths
}

/// CIFAR binary records: `count` images with labels `label(i)` (and coarse label i % 20 for CIFAR-100).
func cifarRecords(count: Int, hundred: Bool, key: Int, label: (Int) -> Int) -> [UInt8] {
    var bytes: [UInt8] = []
    for i in 0..<count {
        if hundred { bytes.append(UInt8(i % 20)) }
        bytes.append(UInt8(label(i)))
        bytes += randomBytes(3072, key: UInt64(key * 1000 + i))
    }
    return bytes
}
