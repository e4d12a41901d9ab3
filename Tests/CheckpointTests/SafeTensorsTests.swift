// Tests of the safetensors reader and writer: round trips, a file written by PyTorch, every
// malformed-header case with its error, writer refusals, and a fuzz of the header parser.
import TestSupport
import Foundation
import XCTest
@testable import Checkpoint

final class SafeTensorsTests: XCTestCase {
    func testRoundTripKeepsValuesShapesAndMetadata() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let path = scratch.file("model.safetensors")
        var writer = SafeTensorsWriter(metadata: ["step": "12", "note": "round trip"])
        writer.add("layers.0.weight", floats: [1, -2, 3.5, 4, 5, 6], shape: [2, 3])
        writer.add("layers.0.bias", floats: [0.5, 0.25, 0.125], shape: [3])
        writer.add("scale", floats: [2.5], shape: [])
        writer.add("empty", floats: [], shape: [0, 7])
        writer.add("counts", int64s: [Int64.min, -1, 0, Int64.max], shape: [2, 2])
        [Float(9), 8, 7].withUnsafeBufferPointer { writer.add("borrowed", floats: $0, shape: [3]) }
        try writer.write(to: path)

        let file = try SafeTensorsFile(contentsOf: path)
        XCTAssertEqual(file.names, ["borrowed", "counts", "empty", "layers.0.bias", "layers.0.weight", "scale"])
        XCTAssertEqual(file.metadata, ["step": "12", "note": "round trip"])
        XCTAssertEqual(try file.floats("layers.0.weight"), [1, -2, 3.5, 4, 5, 6])
        XCTAssertEqual(file.shape("layers.0.weight"), [2, 3])
        XCTAssertEqual(try file.floats("scale"), [2.5])
        XCTAssertEqual(file.info("scale"), TensorInfo(name: "scale", dtype: .f32, shape: [], count: 1))
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(file.info("empty")?.count, 0)
        XCTAssertEqual(try file.int64s("counts"), [Int64.min, -1, 0, Int64.max])
        XCTAssertEqual(try file.floats("borrowed"), [9, 8, 7])
        XCTAssertTrue(file.contains("counts"))
        XCTAssertFalse(file.contains("missing"))
        XCTAssertNil(file.info("missing"))
    }

    func testLayoutMatchesTheReferenceWriter() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let path = scratch.file("layout.safetensors")
        var writer = SafeTensorsWriter()
        writer.add("b.odd", floats: [1, 2, 3], shape: [3])
        writer.add("a.odd", floats: [4], shape: [1])
        writer.add("z.ints", int64s: [5, 6], shape: [2])
        try writer.write(to: path)

        let bytes = readBytes(path)
        let headerLength = bytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        XCTAssertEqual((8 + headerLength) % 8, 0, "data starts at a multiple of 8")
        let header = String(decoding: bytes[8..<(8 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.hasSuffix("}") || header.hasSuffix(" "), header)
        // Larger elements first, then by name, no gaps: I64 at 0, then the F32 tensors by name.
        XCTAssertTrue(header.contains(#""z.ints":{"data_offsets":[0,16]"#), header)
        XCTAssertTrue(header.contains(#""a.odd":{"data_offsets":[16,20]"#), header)
        XCTAssertTrue(header.contains(#""b.odd":{"data_offsets":[20,32]"#), header)
        XCTAssertEqual(bytes.count, 8 + headerLength + 32)
    }

    /// Tests/CheckpointTests/Fixtures/torch_small.safetensors was made once with safetensors 0.8.0 and
    /// torch 2.15 (the reference venv) by:
    ///     save_file({"layers.0.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5 - 1.0,
    ///                "layers.0.bias": torch.tensor([0.25, -0.125, 3.0e-8]),
    ///                "bn.num_batches_tracked": torch.tensor(42),
    ///                "ids": torch.tensor([-3, 0, 7, 2**40]),
    ///                "empty": torch.zeros(0, 4),
    ///                "half": torch.tensor([1.5, -2.0], dtype=torch.bfloat16)},
    ///               "torch_small.safetensors", metadata={"format": "pt", "source": "wavemix-swift fixture"})
    func testReadsAFileWrittenByPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures/torch_small", withExtension: "safetensors"))
        let file = try SafeTensorsFile(contentsOf: url.path)
        XCTAssertEqual(file.names, ["bn.num_batches_tracked", "empty", "half", "ids", "layers.0.bias", "layers.0.weight"])
        XCTAssertEqual(file.metadata, ["format": "pt", "source": "wavemix-swift fixture"])
        XCTAssertEqual(try file.floats("layers.0.weight"), [-1, -0.5, 0, 0.5, 1, 1.5])
        XCTAssertEqual(file.shape("layers.0.weight"), [2, 3])
        XCTAssertEqual(try file.floats("layers.0.bias"), [0.25, -0.125, 3.0e-8])
        XCTAssertEqual(try file.int64s("bn.num_batches_tracked"), [42])
        XCTAssertEqual(file.shape("bn.num_batches_tracked"), [])
        XCTAssertEqual(try file.int64s("ids"), [-3, 0, 7, 1 << 40])
        XCTAssertEqual(file.info("empty"), TensorInfo(name: "empty", dtype: .f32, shape: [0, 4], count: 0))
        XCTAssertEqual(file.info("half")?.dtype, .bf16)
        guard case .wrongDType(_, "half", .f32, .bf16)? = thrownError({ () throws(SafeTensorsError) in try file.floats("half") }) else {
            return XCTFail("reading BF16 as F32 must fail")
        }
    }

    func testAccessErrorsNameTheTensor() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let path = scratch.file("access.safetensors")
        var writer = SafeTensorsWriter()
        writer.add("w", floats: [1], shape: [1])
        try writer.write(to: path)
        let file = try SafeTensorsFile(contentsOf: path)
        XCTAssertEqual(thrownError { () throws(SafeTensorsError) in try file.floats("nope") }?.description, "\(path): no tensor 'nope'")
        XCTAssertEqual(thrownError { () throws(SafeTensorsError) in try file.int64s("w") }?.description, "\(path): tensor 'w' is F32, not I64")
    }

    // MARK: - Malformed files

    /// A file with `header` as its JSON (padded to 8) followed by `data`.
    private func file(header: String, data: [UInt8] = [UInt8](repeating: 0, count: 64), declaredLength: UInt64? = nil) -> [UInt8] {
        var json = Array(header.utf8)
        json += [UInt8](repeating: 32, count: (8 - json.count % 8) % 8)
        return withUnsafeBytes(of: (declaredLength ?? UInt64(json.count)).littleEndian, Array.init) + json + data
    }

    private func parseError(_ bytes: [UInt8]) -> SafeTensorsError? {
        thrownError { () throws(SafeTensorsError) in try SafeTensorsFile(bytes: bytes, path: "bad.safetensors") }
    }

    func testTruncatedFiles() throws {
        XCTAssertEqual(parseError([1, 2, 3])?.description, "bad.safetensors: file is 3 bytes, too short for the 8-byte header length")
        let valid = file(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: [UInt8](repeating: 0, count: 16))
        XCTAssertNotNil(try? SafeTensorsFile(bytes: valid, path: "ok"))
        for cut in 0..<valid.count {
            let error = parseError(Array(valid[0..<cut]))
            switch error {
            case .tooShort?, .headerTooLarge?, .offsetsOutOfRange?: break
            default: XCTFail("cut at \(cut): \(String(describing: error))")
            }
        }
    }

    func testHeaderLengthBeyondTheFile() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let path = scratch.file("model.safetensors")
        writeBytes(file(header: "{}", data: [UInt8](repeating: 0, count: 1008), declaredLength: 912_384_123), to: path)
        let error = thrownError { () throws(SafeTensorsError) in try SafeTensorsFile(contentsOf: path) }
        XCTAssertEqual(error?.description, "\(path): header length 912384123 exceeds file size 1024")
    }

    func testHeaderLengthOverTheLimitIsRefusedBeforeReading() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let path = scratch.file("huge.safetensors")
        writeBytes(withUnsafeBytes(of: UInt64(100_000_001).littleEndian, Array.init), to: path)
        XCTAssertEqual(truncate(path, 100_000_100), 0)  // sparse: nothing but the length is ever read
        let error = thrownError { () throws(SafeTensorsError) in try SafeTensorsFile(contentsOf: path) }
        XCTAssertEqual(error?.description, "\(path): header length 100000001 exceeds the 100 MB limit")
    }

    func testEachMalformedHeaderGetsItsError() throws {
        func check(_ header: String, data: Int = 64, _ expected: String, line: UInt = #line) {
            let error = parseError(file(header: header, data: [UInt8](repeating: 0, count: data)))
            XCTAssertEqual(error?.description, expected.isEmpty ? nil : "bad.safetensors: " + expected, line: line)
        }
        let w = #""dtype":"F32","shape":[2]"#
        check("{not json", "invalid header: The given data was not valid JSON.")
        check("[1, 2]", "invalid header: top level: expected Dictionary<String, Any>")
        check(#"{"w":{"dtype":"F8","shape":[2],"data_offsets":[0,8]}}"#, "tensor 'w' has unknown dtype 'F8'")
        check(#"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, "tensor 'w' has invalid shape [-2]")
        check(#"{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#,
              "tensor 'w' has invalid shape [4294967296, 4294967296]")
        check("{\"w\":{\(w),\"data_offsets\":[0,1000]}}", "tensor 'w' data_offsets [0, 1000] outside the 64-byte data section")
        check("{\"w\":{\(w),\"data_offsets\":[8,0]}}", "tensor 'w' data_offsets [8, 0] outside the 64-byte data section")
        check("{\"w\":{\(w),\"data_offsets\":[-8,0]}}", "tensor 'w' data_offsets [-8, 0] outside the 64-byte data section")
        check("{\"w\":{\(w),\"data_offsets\":[0]}}", "invalid header: tensor 'w': data_offsets must be [begin, end]")
        check("{\"w\":{\(w)}}", "invalid header: w: missing key 'data_offsets'")
        check("{\"w\":{\(w),\"data_offsets\":[0,12]}}", "tensor 'w' spans 12 bytes, its shape and dtype need 8")
        check("{\"a\":{\(w),\"data_offsets\":[0,8]},\"b\":{\(w),\"data_offsets\":[4,12]}}", "tensors 'a' and 'b' overlap")
        check(#"{"__metadata__":{"k":1}}"#, "invalid header: __metadata__.k: expected String")
        // Gaps, uncovered bytes and empty tensors sharing an offset are all fine.
        let fine = "{\"a\":{\(w),\"data_offsets\":[0,8]},\"b\":{\(w),\"data_offsets\":[16,24]},"
            + #""e":{"dtype":"I64","shape":[0],"data_offsets":[8,8]},"f":{"dtype":"U8","shape":[0,3],"data_offsets":[8,8]}}"#
        XCTAssertNoThrow(try SafeTensorsFile(bytes: file(header: fine), path: "fine"))
    }

    func testNonIntegerShapeIsAnInvalidHeader() {
        for shape in ["[2.5]", #"["2"]"#, "[true]", "2"] {
            let error = parseError(file(header: #"{"w":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,8]}}"#))
            guard case .invalidHeader? = error else { return XCTFail("shape \(shape): \(String(describing: error))") }
        }
    }

    // MARK: - Writer refusals

    func testWriterRefusesDuplicatesAndWrongShapesAndLeavesTheOldFile() throws {
        let scratch = TemporaryDirectory("checkpoint")
        let path = scratch.file("keep.safetensors")
        var good = SafeTensorsWriter()
        good.add("w", floats: [1, 2], shape: [2])
        try good.write(to: path)
        let before = readBytes(path)

        var duplicate = SafeTensorsWriter()
        duplicate.add("w", floats: [1], shape: [1])
        duplicate.add("w", int64s: [1], shape: [1])
        XCTAssertEqual(thrownError { () throws(SafeTensorsError) in try duplicate.write(to: path) }, .duplicateTensor(path: path, tensor: "w"))

        var misshapen = SafeTensorsWriter()
        misshapen.add("w", floats: [1, 2, 3], shape: [2, 2])
        XCTAssertEqual(thrownError { () throws(SafeTensorsError) in try misshapen.write(to: path) }?.description,
                       "\(path): tensor 'w' has shape [2, 2] but 3 elements")

        XCTAssertEqual(readBytes(path), before)
        XCTAssertEqual(temporaryFiles(in: scratch.path), [])
    }

    func testWriterIntoAMissingDirectoryIsNotWritable() throws {
        let scratch = TemporaryDirectory("checkpoint")
        writeBytes([1], to: scratch.file("plain"))
        var writer = SafeTensorsWriter()
        writer.add("w", floats: [1], shape: [1])
        let path = scratch.file("plain") + "/model.safetensors"
        XCTAssertEqual(thrownError { () throws(SafeTensorsError) in try writer.write(to: path) }?.description,
                       "\(scratch.file("plain")): directory is not writable: Not a directory")
    }

    // MARK: - Fuzz

    /// Thousands of mutated copies of a valid file: half mutate the JSON text and fix up the length
    /// so the parser sees it, half damage the raw file (length bytes, truncation, extension). Each
    /// one is either refused with a SafeTensorsError or every tensor it declares can be read.
    func testFuzzedHeadersNeverCrash() throws {
        var writer = SafeTensorsWriter(metadata: ["k": "v", "step": "3"])
        writer.add("layers.0.weight", floats: (0..<24).map(Float.init), shape: [2, 3, 4])
        writer.add("layers.0.bias", floats: [1, 2, 3], shape: [3])
        writer.add("count", int64s: [7], shape: [])
        writer.add("empty", floats: [], shape: [0])
        let scratch = TemporaryDirectory("checkpoint")
        try writer.write(to: scratch.file("seed.safetensors"))
        let seed = readBytes(scratch.file("seed.safetensors"))
        let headerEnd = 8 + seed.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        let seedJSON = Array(seed[8..<headerEnd]), seedData = Array(seed[headerEnd...])

        var random = TestRandom(seed: 7)
        var loaded = 0, refusedByParser = 0
        let interesting = Array("{}[]\",:0123456789-.eE \\u\0tfn".utf8) + [0xFF, 0xC3]
        for iteration in 0..<6000 {
            var bytes: [UInt8]
            if iteration % 2 == 0 {
                var json = seedJSON
                for _ in 0...random.below(3) where !json.isEmpty {
                    let at = random.below(json.count)
                    switch random.below(4) {
                    case 0: json[at] ^= UInt8(1 << random.below(8))
                    case 1: json[at] = interesting[random.below(interesting.count)]
                    case 2: json.insert(interesting[random.below(interesting.count)], at: at)
                    default: json.remove(at: at)
                    }
                }
                bytes = withUnsafeBytes(of: UInt64(json.count).littleEndian, Array.init) + json + seedData
            } else {
                bytes = seed
                switch random.below(3) {
                case 0: bytes[random.below(8)] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.removeSubrange(random.below(bytes.count)..<bytes.count)
                default: bytes += random.bytes(1 + random.below(40))
                }
            }
            let file: SafeTensorsFile
            do {
                file = try SafeTensorsFile(bytes: bytes, path: "fuzz")
            } catch {
                if case .invalidHeader = error { refusedByParser += 1 }
                continue
            }
            loaded += 1
            for name in file.names {
                switch file.info(name)!.dtype {
                case .f32: XCTAssertEqual(try file.floats(name).count, file.info(name)!.count)
                case .i64: XCTAssertEqual(try file.int64s(name).count, file.info(name)!.count)
                default: XCTAssertNotNil(thrownError { () throws(SafeTensorsError) in try file.floats(name) })
                }
            }
        }
        XCTAssertGreaterThan(loaded, 100, "mutations of padding, names or trailing bytes stay loadable")
        XCTAssertGreaterThan(refusedByParser, 1000, "most JSON mutations reach the parser")
    }
}
