// The plateau rule of the official WaveMix recipe: a tie counts as an improvement, N epochs without
// one end a phase, the first plateau starts the second phase (patience counted afresh, the best
// score kept), the last one ends the run; and a resumed run must keep the selection recipe.
import Testing
import Training
import Data
import WaveMix

@Suite struct ModelSelectionTests {
    @Test func patienceCountsEpochsWithoutABetterTop1() {
        var state = SelectionState()
        let scores = [0.50, 0.60, 0.60, 0.55, 0.58, 0.59, 0.61, 0.61, 0.60, 0.60]
        var decisions: [SelectionState.Decision] = []
        for (epoch, top1) in scores.enumerated() {
            decisions.append(state.record(top1: top1, step: 10 * (epoch + 1), epoch: epoch + 1, patience: 3, hasSecondPhase: true))
            if state.finished { break }
        }
        #expect(decisions == [.improved, .improved, .improved, .noImprovement, .noImprovement, .startSecondPhase,
                              .improved, .improved, .noImprovement, .noImprovement])
        #expect(state.phase == 2 && state.bestTop1 == 0.61 && state.bestStep == 80 && state.bestEpoch == 8)
        #expect(state.record(top1: 0.2, step: 110, epoch: 11, patience: 3, hasSecondPhase: true) == .stop)
        #expect(state.finished)
    }

    @Test func withoutASecondPhaseTheFirstPlateauEndsTheRun() {
        var state = SelectionState()
        _ = state.record(top1: 0.9, step: 1, epoch: 1, patience: 1, hasSecondPhase: false)
        #expect(state.record(top1: 0.8, step: 2, epoch: 2, patience: 1, hasSecondPhase: false) == .stop)
        #expect(state.finished && state.phase == 1)
    }

    @Test func withoutPatienceTheRunNeverStopsEarly() {
        var state = SelectionState()
        _ = state.record(top1: 0.9, step: 1, epoch: 1, patience: nil, hasSecondPhase: false)
        for epoch in 2...50 { #expect(state.record(top1: 0.1, step: epoch, epoch: epoch, patience: nil, hasSecondPhase: false) == .noImprovement) }
        #expect(!state.finished && state.bestEpoch == 1)
    }

    @Test func aResumedRunKeepsTheSelectionRecipe() {
        let config = WaveMixConfig.presets["lite-64-4"]!
        var before = TrainingOptions(model: config, data: "fashion-mnist", batchSize: 8, epochs: 1,
                                     optimizer: TrainingOptions.officialOptimizer, learningRate: 1e-3, runDirectory: "r")
        before.selection = ModelSelection(validationSize: .images(100), patience: 5,
                                          secondPhase: PhaseRecipe(optimizer: OptimizerSettings(kind: .sgd, momentum: 0.9), learningRate: 1e-3))
        var now = before
        now.selection?.testEveryEpoch = true  // run control: may change
        #expect(now.recipeDifferences(from: before).isEmpty)
        now.selection?.validationSize = .fraction(0.1)
        now.selection?.patience = 6
        now.selection?.secondPhase?.learningRate = 1e-2
        now.trivialAugment = true
        #expect(now.recipeDifferences(from: before).map { $0.split(separator: ":")[0] }
                == ["--trivial-augment", "--val-split", "--patience", "--then-lr"])
        now.selection = nil
        #expect(now.recipeDifferences(from: before).contains { $0.hasPrefix("--val-split") })
    }
}
