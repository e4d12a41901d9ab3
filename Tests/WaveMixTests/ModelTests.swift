// The model without reference files: configuration checks, the official parameter table, the
// gradient of the whole network against finite differences, and the gradient-ready signal order.
import Kernels
import Randomness
@testable import WaveMix
import XCTest

final class ModelTests: XCTestCase {
    func testConfigurationErrorsSayWhyAndWhatWorks() {
        let lite = WaveMixConfig.presets["lite-64-4"]!
        XCTAssertNoThrow(try lite.validate(height: 28, width: 28))
        var level3 = lite
        level3.level = 3
        XCTAssertThrowsError(try level3.validate(height: 28, width: 28)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("28x28"), text)
            XCTAssertTrue(text.contains("multiple of 8"), text)
            XCTAssertTrue(text.contains("use level 1 or 2"), text)
        }
        var odd = lite
        odd.finalDim = 30
        XCTAssertThrowsError(try odd.validate(height: 28, width: 28)) { XCTAssertTrue("\($0)".contains("multiple of 4")) }
        var pachify = WaveMixConfig()  // ImageNet defaults: pachify patch 4, level 3
        XCTAssertNoThrow(try pachify.validate(height: 224, width: 224))
        pachify.level = 4
        XCTAssertThrowsError(try pachify.validate(height: 224, width: 224)) { XCTAssertTrue("\($0)".contains("56x56"), "\($0)") }
        XCTAssertThrowsError(try WaveMixModel(config: level3, imageHeight: 28, imageWidth: 28))
    }

    func testConfigJSONUsesOfficialNamesAndDefaults() throws {
        let json = #"{"num_classes": 10, "depth": 2, "final_dim": 16, "ff_channel": 8, "level": 2, "initial_conv": "strided", "stride": 1}"#
        let config = try JSONDecoder().decode(WaveMixConfig.self, from: Data(json.utf8))
        XCTAssertEqual(config.mult, 2)
        XCTAssertEqual(config.inChans, 3)
        XCTAssertEqual(config.dropout, 0.5)
        XCTAssertEqual(config.initialConv, .strided)
        let back = try JSONDecoder().decode(WaveMixConfig.self, from: JSONEncoder().encode(config))
        XCTAssertEqual(back, config)
    }

    func testParameterTableHasOfficialNamesShapesAndOrder() throws {
        let config = WaveMixConfig(numClasses: 7, depth: 2, mult: 2, ffChannel: 24, finalDim: 32, dropout: 0, level: 2,
                                   initialConv: .pachify, patchSize: 4, stride: 2, inChans: 3)
        let model = try WaveMixModel(config: config, imageHeight: 32, imageWidth: 32)
        let table = model.parameterTable
        XCTAssertEqual(table.entry("conv.0.weight")?.shape, [8, 3, 3, 3])
        XCTAssertEqual(table.entry("conv.2.weight")?.shape, [32, 16, 4, 4])
        XCTAssertEqual(table.entry("conv.4.weight")?.shape, [32])
        XCTAssertEqual(table.entry("layers.1.reduction.weight")?.shape, [8, 32, 1, 1])
        XCTAssertEqual(table.entry("layers.0.feedforward1.0.weight")?.shape, [64, 48, 1, 1])
        XCTAssertEqual(table.entry("layers.0.feedforward2.0.weight")?.shape, [64, 32, 1, 1])
        XCTAssertEqual(table.entry("layers.0.feedforward1.4.weight")?.shape, [24, 32, 4, 4])
        XCTAssertEqual(table.entry("layers.0.feedforward2.4.weight")?.shape, [24, 16, 4, 4])
        XCTAssertEqual(table.entry("pool.2.weight")?.shape, [7, 32])
        XCTAssertEqual(model.counterNames, ["conv.4.num_batches_tracked", "layers.0.feedforward2.5.num_batches_tracked",
                                            "layers.0.feedforward1.5.num_batches_tracked", "layers.1.feedforward2.5.num_batches_tracked",
                                            "layers.1.feedforward1.5.num_batches_tracked"])
        // Forward order: the stem first, the head last, so backward finishes gradients from the end.
        XCTAssertEqual(table.entries.first?.name, "conv.0.weight")
        XCTAssertEqual(table.entries.last?.name, "pool.2.bias")
        XCTAssertEqual(table.total, table.entries.map(\.count).reduce(0, +))
        // Level 1 names the single feedforward without a number.
        let lite = try WaveMixModel(config: WaveMixConfig.presets["lite-64-4"]!, imageHeight: 28, imageWidth: 28)
        XCTAssertNotNil(lite.parameterTable.entry("layers.3.feedforward.4.weight"))
        XCTAssertEqual(lite.parameterTable.entry("conv.0.weight")?.shape, [32, 1, 3, 3])
    }

    func testWholeModelGradientMatchesFiniteDifferences() throws {
        for config in [
            WaveMixConfig(numClasses: 3, depth: 1, mult: 1, ffChannel: 4, finalDim: 8, dropout: 0.3, level: 2,
                          initialConv: .pachify, patchSize: 2, stride: 1, inChans: 2),
            WaveMixConfig(numClasses: 4, depth: 2, mult: 2, ffChannel: 8, finalDim: 8, dropout: 0, level: 1,
                          initialConv: .strided, patchSize: 4, stride: 2, inChans: 1),
        ] {
            let model = try WaveMixModel(config: config, imageHeight: 8, imageWidth: 8, seed: 3)
            let n = 3
            let input = randomInput(n * 8 * 8 * config.inChans, seed: 5)
            var labels: [Int32] = [0, 2, 1]
            let loss = { () -> Double in
                input.withUnsafeBufferPointer { x in
                    model.forward(input: x.baseAddress!, batch: n, training: true, dropout: .keyed(seed: 9, step: 1, sampleIDs: []))
                    return Double(labels.withUnsafeBufferPointer { model.crossEntropy(labels: $0.baseAddress!, batch: n).loss })
                }
            }
            _ = loss()
            model.zeroGradients()
            input.withUnsafeBufferPointer { model.backward(input: $0.baseAddress!, batch: n) }
            let analytic = Array(model.gradients)
            let scale = analytic.map(abs).max()!
            var worst: Float = 0, worstName = ""
            for entry in model.parameterTable.entries {
                for i in [0, entry.count / 2, entry.count - 1] {
                    let index = entry.offset + i, saved = model.parameters[index], eps: Float = 1e-2
                    model.parameters[index] = saved + eps
                    let plus = loss()
                    model.parameters[index] = saved - eps
                    let minus = loss()
                    model.parameters[index] = saved
                    let numeric = Float((plus - minus) / Double(2 * eps))
                    let error = abs(numeric - analytic[index]) / scale
                    if error > worst { worst = error; worstName = "\(entry.name)[\(i)]" }
                }
            }
            XCTAssertLessThan(worst, 2e-3, "worst finite-difference mismatch at \(worstName) (\(config.initialConv), level \(config.level))")
            labels[0] = 1
        }
    }

    func testGradientsReadyIsMonotoneAndFinal() throws {
        let config = WaveMixConfig(numClasses: 5, depth: 3, mult: 2, ffChannel: 8, finalDim: 16, dropout: 0, level: 3,
                                   initialConv: .pachify, patchSize: 2, stride: 1, inChans: 3)
        let model = try WaveMixModel(config: config, imageHeight: 16, imageWidth: 16)
        let n = 2
        let input = randomInput(n * 16 * 16 * 3, seed: 8)
        let labels: [Int32] = [1, 4]
        var snapshots: [(Int, [Float])] = []
        model.gradientsReady = { offset in snapshots.append((offset, Array(model.gradients[offset...]))) }
        input.withUnsafeBufferPointer { x in
            model.forward(input: x.baseAddress!, batch: n, training: true)
            _ = labels.withUnsafeBufferPointer { model.crossEntropy(labels: $0.baseAddress!, batch: n) }
            model.backward(input: x.baseAddress!, batch: n)
        }
        XCTAssertEqual(snapshots.last?.0, 0)
        XCTAssertEqual(snapshots.map(\.0), snapshots.map(\.0).sorted(by: >))
        let final = Array(model.gradients)
        for (offset, values) in snapshots { XCTAssertEqual(values, Array(final[offset...]), "gradients above \(offset) changed after being reported final") }
    }

    func testEvalKeepsTransformedWeightsOnlyWhileTheWeightsAreUnchanged() throws {
        // Eval reuses the transposed convolutions' class kernels across forward passes. After the
        // parameters change under it, its logits must be bitwise those of a fresh model holding
        // the new parameters (which builds every kernel anew), for one level (the fused mixing
        // path) and for two.
        for level in [1, 2] {
            let config = WaveMixConfig(numClasses: 5, depth: 2, mult: 2, ffChannel: 16, finalDim: 16, dropout: 0.5, level: level,
                                       initialConv: .strided, patchSize: 4, stride: 1, inChans: 1)
            let n = 3, input = randomInput(n * 16 * 16, seed: 9)
            let model = try WaveMixModel(config: config, imageHeight: 16, imageWidth: 16, seed: 1)
            func logits(_ model: WaveMixModel) -> [Float] {
                input.withUnsafeBufferPointer { x in
                    Array(UnsafeBufferPointer(start: model.forward(input: x.baseAddress!, batch: n, training: false), count: n * 5))
                }
            }
            let before = logits(model)
            XCTAssertEqual(logits(model), before, "level \(level): a second pass over unchanged weights")
            for i in model.parameters.indices { model.parameters[i] *= 1.25 }
            let after = logits(model)
            XCTAssertNotEqual(after, before, "level \(level)")
            let fresh = try WaveMixModel(config: config, imageHeight: 16, imageWidth: 16, seed: 2)
            _ = fresh.parameters.update(fromContentsOf: model.parameters)
            _ = fresh.buffers.update(fromContentsOf: model.buffers)
            XCTAssertEqual(after, logits(fresh), "level \(level): kernels kept from weights that have since changed")
        }
    }

    func randomInput(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(key: seed)
        return (0..<count).map { _ in rng.nextNormal() }
    }
}
