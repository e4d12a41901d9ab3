// Optimizers, schedules and gradient clipping against values torch.optim computed
// (Tests/WaveMixTests/Fixtures/optim, dumped by scripts/optim_fixtures.py).
import Checkpoint
import Foundation
import WaveMix
import XCTest

let optimFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/optim")

final class OptimizerTests: XCTestCase {
    func fixture(_ name: String) throws -> SafeTensorsFile {
        try SafeTensorsFile(contentsOf: optimFixtures.appendingPathComponent("\(name).safetensors").path)
    }

    func settings(_ m: [String: String]) -> OptimizerSettings {
        let d = { (k: String, fallback: Double) in m[k].flatMap(Double.init) ?? fallback }
        return OptimizerSettings(kind: OptimizerKind(rawValue: m["optimizer"]!)!, weightDecay: d("weight_decay", 0),
                                 beta1: d("beta1", 0.9), beta2: d("beta2", 0.999), eps: d("eps", 1e-8),
                                 momentum: d("momentum", 0), dampening: d("dampening", 0), nesterov: m["nesterov"] == "true")
    }

    func testOptimizersMatchTorch() throws {
        for name in ["adamw", "adamw_big", "sgd_plain", "sgd_momentum", "sgd_nesterov", "sgd_dampening", "lion"] {
            let f = try fixture(name)
            let s = settings(f.metadata)
            let lr = Double(f.metadata["lr"]!)!, steps = Int(f.metadata["steps"]!)!
            var params = try f.floats("param.0")
            let optimizer = Optimizer(s, parameterCount: params.count)
            for t in 0..<steps {
                let grad = try f.floats("grad.\(t)")
                params.withUnsafeMutableBufferPointer { p in
                    grad.withUnsafeBufferPointer { optimizer.step(parameters: p, gradients: $0, lr: lr) }
                }
                let want = try f.floats("param.\(t + 1)")
                let diff = zip(params, want).map { abs($0 - $1) }.max()!
                let limit = 1e-5 * want.map(abs).max()! + 1e-7
                XCTAssertLessThanOrEqual(diff, limit, "\(name) step \(t + 1): max|diff| \(diff)")
            }
            XCTAssertEqual(optimizer.stepCount, steps)
        }
    }

    func testSchedulesMatchTorch() throws {
        let f = try fixture("schedules")
        let m = f.metadata
        let base = Double(m["base_lr"]!)!
        let int = { (k: String) in Int(m[k]!)! }, double = { (k: String) in Double(m[k]!)! }
        let schedules: [String: LRSchedule] = [
            "constant": LRSchedule(kind: .constant, baseLR: base, totalSteps: int("T.constant")),
            "step": LRSchedule(kind: .step, baseLR: base, totalSteps: int("T.step"), stepSize: int("step.step_size"),
                               gamma: double("step.gamma")),
            "cosine": LRSchedule(kind: .cosine, baseLR: base, totalSteps: int("cosine.t_max")),
            "cosine_min": LRSchedule(kind: .cosine, baseLR: base, totalSteps: int("cosine_min.t_max"), minLR: double("cosine_min.eta_min")),
            "warmup_cosine": LRSchedule(kind: .cosine, baseLR: base, totalSteps: int("warmup_cosine.total"),
                                        warmupSteps: int("warmup_cosine.warmup"), warmupStartFactor: double("warmup_cosine.start_factor")),
        ]
        for (name, schedule) in schedules {
            let want = try f.floats(name)
            XCTAssertEqual(want.count, int("T.\(name)"))
            for (t, lr) in want.enumerated() {
                XCTAssertEqual(schedule.learningRate(at: t), Double(lr), accuracy: 1e-6 * base, "\(name) at step \(t)")
            }
        }
    }

    func testGradientClippingMatchesTorch() throws {
        let f = try fixture("clip")
        for prefix in ["", "noclip."] {
            let maxNorm = Double(f.metadata["\(prefix)max_norm"]!)!
            var grads = try f.floats("\(prefix)grad.a") + f.floats("\(prefix)grad.b")
            let norm = grads.withUnsafeMutableBufferPointer { clipGradientNorm($0, maxNorm: maxNorm) }
            XCTAssertEqual(norm, Double(try f.floats("\(prefix)total_norm")[0]), accuracy: 1e-5 * norm)
            let want = try f.floats("\(prefix)clipped.a") + f.floats("\(prefix)clipped.b")
            XCTAssertLessThanOrEqual(zip(grads, want).map { abs($0 - $1) }.max()!, 1e-6 * want.map(abs).max()!, prefix)
        }
    }
}
