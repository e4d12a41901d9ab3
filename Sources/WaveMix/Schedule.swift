// Learning-rate schedules as closed forms of the step number, matching PyTorch's schedulers:
// ConstantLR-free constant, StepLR, CosineAnnealingLR(eta_min), each optionally preceded by a
// LinearLR warm-up (SequentialLR): lr(t) = base * (s + (1 - s) * t / W) for t < W.
import Foundation

public enum ScheduleKind: String, Codable, Sendable, CaseIterable {
    case constant, step, cosine
}

/// A schedule's shape, apart from the run it is applied to (base rate and length).
public struct ScheduleSettings: Equatable, Sendable {
    public var kind: ScheduleKind
    public var warmupSteps: Int
    public var stepSize: Int
    public var gamma: Double
    public var minLR: Double

    public init(kind: ScheduleKind = .constant, warmupSteps: Int = 0, stepSize: Int = 1, gamma: Double = 0.1, minLR: Double = 0) {
        self.kind = kind; self.warmupSteps = warmupSteps; self.stepSize = stepSize; self.gamma = gamma; self.minLR = minLR
    }
}

public struct LRSchedule: Codable, Equatable, Sendable {
    public var kind: ScheduleKind
    public var baseLR: Double
    /// Steps in the whole run (cosine decays to `minLR` at this step).
    public var totalSteps: Int
    public var warmupSteps: Int
    public var warmupStartFactor: Double
    /// StepLR: multiply by `gamma` every `stepSize` steps.
    public var stepSize: Int
    public var gamma: Double
    public var minLR: Double

    public init(kind: ScheduleKind, baseLR: Double, totalSteps: Int, warmupSteps: Int = 0, warmupStartFactor: Double = 0.01,
                stepSize: Int = 1, gamma: Double = 0.1, minLR: Double = 0) {
        self.kind = kind; self.baseLR = baseLR; self.totalSteps = totalSteps; self.warmupSteps = warmupSteps
        self.warmupStartFactor = warmupStartFactor; self.stepSize = stepSize; self.gamma = gamma; self.minLR = minLR
    }

    /// `settings` applied to a run of `totalSteps` steps peaking at `baseLR`.
    public init(_ settings: ScheduleSettings, baseLR: Double, totalSteps: Int) {
        self.init(kind: settings.kind, baseLR: baseLR, totalSteps: totalSteps, warmupSteps: settings.warmupSteps,
                  stepSize: settings.stepSize, gamma: settings.gamma, minLR: settings.minLR)
    }

    /// The learning rate of the optimizer step with index `t` (0-based).
    public func learningRate(at t: Int) -> Double {
        if t < warmupSteps {
            return baseLR * (warmupStartFactor + (1 - warmupStartFactor) * Double(t) / Double(warmupSteps))
        }
        let u = t - warmupSteps
        switch kind {
        case .constant:
            return baseLR
        case .step:
            return baseLR * Foundation.pow(gamma, Double(u / max(1, stepSize)))
        case .cosine:
            let span = max(1, totalSteps - warmupSteps)
            return minLR + (baseLR - minLR) * (1 + cos(Double.pi * Double(min(u, span)) / Double(span))) / 2
        }
    }
}
