// Parity with the official PyTorch package: every committed fixture (dumped by
// scripts/make_fixtures.py from wavemix 0.2.4) is replayed and compared tensor by tensor:
// max|a-b| <= 1e-4 * max|b| + 1e-6; integer buffers exactly. The bias of each feed-forward's
// transposed convolution feeds a training-mode BatchNorm, which cancels any constant shift: its
// gradient is zero by construction and holds only rounding noise in both implementations, so it is
// compared absolutely (<= 1e-5) once the reference is confirmed to be that small.
import Checkpoint
import Foundation
import Training
import WaveMix
import XCTest

let fixtureRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("WaveMixTests/Fixtures")

final class ParityTests: XCTestCase {
    func testEveryCommittedModelFixture() throws {
        let root = fixtureRoot.appendingPathComponent("model")
        let cases = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        for name in cases {
            let dir = root.appendingPathComponent(name)
            let out = try DebugStepRunner.run(configPath: dir.appendingPathComponent("config.json").path,
                                              weightsPath: dir.appendingPathComponent("weights.safetensors").path,
                                              batchPath: dir.appendingPathComponent("batch.safetensors").path)
            let expected = try SafeTensorsFile(contentsOf: dir.appendingPathComponent("expected.safetensors").path)
            let got = Dictionary(uniqueKeysWithValues: out.map { ($0.name, $0) })
            XCTAssertEqual(Set(got.keys), Set(expected.names), "\(name): output names")
            var worst = (ratio: 0.0, tensor: "")
            for tensor in expected.names {
                guard let mine = got[tensor] else { continue }
                XCTAssertEqual(mine.shape, expected.shape(tensor), "\(name) \(tensor): shape")
                switch mine.values {
                case .int64(let values):
                    XCTAssertEqual(values, try expected.int64s(tensor), "\(name) \(tensor)")
                case .float32(let values):
                    let want = try expected.floats(tensor)
                    let diff = zip(values, want).map { Double(abs($0 - $1)) }.max() ?? 0
                    let scale = Double(want.map(abs).max() ?? 0)
                    let zeroByConstruction = tensor.hasPrefix("grad.layers.") && tensor.contains(".feedforward")
                        && tensor.hasSuffix(".4.bias")
                    if zeroByConstruction { XCTAssertLessThanOrEqual(scale, 1e-5, "\(name) \(tensor): reference is not ~0") }
                    let limit = zeroByConstruction ? 1e-5 : 1e-4 * scale + 1e-6
                    XCTAssertLessThanOrEqual(diff, limit, "\(name) \(tensor): max|diff| \(diff)")
                    if diff / limit > worst.ratio { worst = (diff / limit, tensor) }
                }
            }
            print("parity \(name): \(expected.names.count) tensors, worst \(worst.tensor) at \(String(format: "%.3f", worst.ratio)) of tolerance")
        }
    }
}
