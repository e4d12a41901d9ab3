// Optimizers over the flat parameter buffer, with PyTorch's exact update rules:
// AdamW (torch.optim.AdamW: decoupled weight decay, bias correction, eps after the corrected
// second moment), SGD (torch.optim.SGD: L2 weight decay, momentum with dampening, nesterov;
// the first momentum step copies the gradient) and Lion (Chen et al. 2023). One loop each.
import Kernels

public enum OptimizerKind: String, Codable, Sendable, CaseIterable {
    case adamw, sgd, lion
}

public struct OptimizerSettings: Codable, Equatable, Sendable {
    public var kind: OptimizerKind
    public var weightDecay: Double
    public var beta1: Double, beta2: Double, eps: Double
    public var momentum: Double, dampening: Double, nesterov: Bool

    public init(kind: OptimizerKind, weightDecay: Double = 0, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
                momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false) {
        self.kind = kind; self.weightDecay = weightDecay; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
        self.momentum = momentum; self.dampening = dampening; self.nesterov = nesterov
    }

    /// `kind` with PyTorch's defaults (Lion: the lion-pytorch package's betas 0.9, 0.99).
    public static func defaults(for kind: OptimizerKind) -> OptimizerSettings {
        OptimizerSettings(kind: kind, beta2: kind == .lion ? 0.99 : 0.999)
    }

    /// Names and sizes (in parameter counts) of the state buffers this optimizer keeps.
    public var stateNames: [String] {
        switch kind {
        case .adamw: ["exp_avg", "exp_avg_sq"]
        case .sgd: momentum != 0 ? ["momentum_buffer"] : []
        case .lion: ["exp_avg"]
        }
    }
}

public final class Optimizer {
    public let settings: OptimizerSettings
    /// Number of steps taken (AdamW's bias correction uses it; SGD's momentum starts on step 1).
    public var stepCount: Int = 0
    /// State buffers by name (see `OptimizerSettings.stateNames`), each the size of the parameters.
    public let state: [String: UnsafeMutableBufferPointer<Float>]

    public init(_ settings: OptimizerSettings, parameterCount: Int) {
        self.settings = settings
        var state: [String: UnsafeMutableBufferPointer<Float>] = [:]
        for name in settings.stateNames {
            let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: parameterCount)
            buffer.initialize(repeating: 0)
            state[name] = buffer
        }
        self.state = state
    }

    deinit { for buffer in state.values { buffer.deallocate() } }

    /// One update of `parameters` from `gradients` with learning rate `lr`.
    public func step(parameters: UnsafeMutableBufferPointer<Float>, gradients: UnsafeBufferPointer<Float>, lr: Double) {
        stepCount += 1
        let p = UnsafeSendable(parameters.baseAddress!), g = gradients.baseAddress!
        let s = settings
        switch s.kind {
        case .adamw:
            let m = UnsafeSendable(state["exp_avg"]!.baseAddress!), v = UnsafeSendable(state["exp_avg_sq"]!.baseAddress!)
            let decay = Float(1 - lr * s.weightDecay)
            let b2 = Float(s.beta2), w1 = Float(1 - s.beta1), w2 = Float(1 - s.beta2)
            let stepSize = Float(lr / (1 - pow(s.beta1, stepCount)))
            let correction2 = Float((1 - pow(s.beta2, stepCount)).squareRoot())
            let eps = Float(s.eps)
            Parallel.forRange(parameters.count, minPerThread: 65_536) { lo, hi in
                let p = p.value, m = m.value, v = v.value
                for i in lo..<hi {
                    let grad = g[i]
                    p[i] *= decay
                    m[i] = lerp(m[i], grad, w1)
                    v[i] = v[i] * b2 + grad * grad * w2
                    p[i] -= stepSize * (m[i] / (v[i].squareRoot() / correction2 + eps))
                }
            }
        case .sgd:
            let wd = Float(s.weightDecay), mu = Float(s.momentum), keep = Float(1 - s.dampening), rate = Float(lr)
            let first = stepCount == 1, nesterov = s.nesterov
            let buffer = state["momentum_buffer"].map { UnsafeSendable($0.baseAddress!) }
            Parallel.forRange(parameters.count, minPerThread: 65_536) { lo, hi in
                let p = p.value
                for i in lo..<hi {
                    var d = wd != 0 ? g[i] + wd * p[i] : g[i]
                    if let buffer {
                        let b = buffer.value
                        b[i] = first ? d : b[i] * mu + keep * d
                        d = nesterov ? d + mu * b[i] : b[i]
                    }
                    p[i] -= rate * d
                }
            }
        case .lion:
            let m = UnsafeSendable(state["exp_avg"]!.baseAddress!)
            let decay = Float(1 - lr * s.weightDecay), rate = Float(lr)
            let b1 = Float(s.beta1), b2 = Float(s.beta2), w1 = Float(1 - s.beta1), w2 = Float(1 - s.beta2)
            Parallel.forRange(parameters.count, minPerThread: 65_536) { lo, hi in
                let p = p.value, m = m.value
                for i in lo..<hi {
                    p[i] *= decay
                    let u = m[i] * b1 + g[i] * w1
                    p[i] -= rate * (u > 0 ? 1 : (u < 0 ? -1 : 0))
                    m[i] = m[i] * b2 + g[i] * w2
                }
            }
        }
    }
}

/// torch.lerp for floats: exact at both ends, the form chosen by the weight's size.
@inline(__always)
private func lerp(_ a: Float, _ b: Float, _ w: Float) -> Float {
    w < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w)
}

@inline(__always)
private func pow(_ x: Double, _ n: Int) -> Double {
    var r = 1.0
    for _ in 0..<n { r *= x }
    return r
}

/// torch.nn.utils.clip_grad_norm_: scales the gradients by max_norm / (norm + 1e-6) when that is
/// below 1, and returns the total L2 norm before clipping.
@discardableResult
public func clipGradientNorm(_ gradients: UnsafeMutableBufferPointer<Float>, maxNorm: Double) -> Double {
    var sum = 0.0
    for x in gradients { sum += Double(x) * Double(x) }
    let norm = sum.squareRoot()
    let coefficient = Float(min(1, maxNorm / (norm + 1e-6)))
    if coefficient < 1 {
        for i in gradients.indices { gradients[i] *= coefficient }
    }
    return norm
}
