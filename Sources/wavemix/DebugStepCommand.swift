// `wavemix debug-step`: replay one step of a fixture dumped from the official package.
import ArgumentParser
import Training

struct DebugStep: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug-step",
        abstract: "Run one eval forward and one training step from files, for parity checks against PyTorch.",
        discussion: """
            Reads a model configuration (the official constructor's arguments plus in_chans and image_size, as JSON), \
            a state dict and a batch (`input` float32 NCHW, `labels` int64, optional `dropout.<module>` 0/1 masks) as \
            safetensors, and writes `logits_eval`, `logits_train`, `loss`, `grad.<parameter>` and `after.<buffer>`. \
            scripts/check_debug_step.sh compares them with what the official package computes.
            """)

    @Option(help: "Model configuration (JSON).") var config: String
    @Option(help: "State dict before the step (safetensors).") var weights: String
    @Option(help: "Batch: input, labels and dropout masks (safetensors).") var batch: String
    @Option(help: "Where to write the outputs (safetensors).") var out: String

    func run() throws {
        let outputs = try DebugStepRunner.run(configPath: config, weightsPath: weights, batchPath: batch)
        try StateDictFiles.write(outputs, to: out)
        print("wrote \(outputs.count) tensors to \(out)")
    }
}
