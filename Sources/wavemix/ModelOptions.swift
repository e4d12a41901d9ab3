// Model options shared by train and bench: a preset, then any of the official constructor's
// arguments on top of it.
import ArgumentParser
import Foundation
import WaveMix

extension Stem: ExpressibleByArgument {}

struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Named model shape: \(WaveMixConfig.presets.keys.sorted().joined(separator: ", ")).", valueName: "name"))
    var preset: String?

    @Option(parsing: .unconditional, help: "Number of wave blocks.") var depth: Int?
    @Option(parsing: .unconditional, help: "Channels of the residual stream (a multiple of 4).") var finalDim: Int?
    @Option(parsing: .unconditional, help: "Channels after each feed-forward's second 1x1 convolution.") var ffChannel: Int?
    @Option(parsing: .unconditional, help: "Expansion factor of each feed-forward's first 1x1 convolution.") var mult: Int?
    @Option(parsing: .unconditional, help: "Wavelet levels per block (1-4).") var level: Int?
    @Option(help: "Stem: strided (two 3x3 convolutions with --stride) or pachify (patch convolution of --patch-size).")
    var stem: Stem?
    @Option(parsing: .unconditional, help: "Patch size of the pachify stem.") var patchSize: Int?
    @Option(parsing: .unconditional, help: "Stride of each of the strided stem's two convolutions.") var stride: Int?
    @Option(parsing: .unconditional, help: "Dropout probability inside the feed-forwards.") var dropout: Double?
    @Option(parsing: .unconditional, help: "Output classes (default: the data set's).") var numClasses: Int?

    func validate() throws {
        if let preset, WaveMixConfig.presets[preset] == nil {
            throw ValidationError("unknown preset '\(preset)'; choose one of \(WaveMixConfig.presets.keys.sorted().joined(separator: ", "))")
        }
        for (name, value) in [("--depth", depth), ("--final-dim", finalDim), ("--ff-channel", ffChannel), ("--mult", mult),
                              ("--level", level), ("--patch-size", patchSize), ("--stride", stride), ("--num-classes", numClasses)] {
            if let value, value < 1 { throw ValidationError("\(name) must be at least 1") }
        }
        if let level, !(1...4).contains(level) { throw ValidationError("--level must be 1, 2, 3 or 4") }
        if let dropout, !(dropout >= 0 && dropout < 1) { throw ValidationError("--dropout must be at least 0 and below 1") }
    }

    /// The preset (or `defaultPreset`) with every given option applied; classes and input channels
    /// default to the data's.
    func config(defaultPreset: String, numClasses dataClasses: Int, inChans: Int) -> WaveMixConfig {
        var c = WaveMixConfig.presets[preset ?? defaultPreset]!
        c.numClasses = numClasses ?? dataClasses
        c.inChans = inChans
        if let depth { c.depth = depth }
        if let finalDim { c.finalDim = finalDim }
        if let ffChannel { c.ffChannel = ffChannel }
        if let mult { c.mult = mult }
        if let level { c.level = level }
        if let stem { c.initialConv = stem }
        if let patchSize { c.patchSize = patchSize }
        if let stride { c.stride = stride }
        if let dropout { c.dropout = dropout }
        return c
    }
}

struct RuntimeOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Compute threads per process (default: WAVEMIX_THREADS, else cores / ranks on this host).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let text = ProcessInfo.processInfo.environment["WAVEMIX_THREADS"], !text.isEmpty,
           (Int(text) ?? 0) < 1 {
            throw ValidationError("WAVEMIX_THREADS=\(text): must be a whole number of at least 1")
        }
    }
}
