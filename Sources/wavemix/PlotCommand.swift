// `wavemix plot`: draws the curves of one or more runs from their RUN_DIR/summary.csv (loss, top-1,
// learning rate, images/s) as an SVG and a PNG, several runs overlaid.
import ArgumentParser
import Foundation
import Plot

extension XAxis: ExpressibleByArgument {}

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw runs' loss, top-1, learning rate and images/s from their summary.csv as SVG and PNG.",
        discussion: """
            Four panels (loss; top-1 accuracy in %; learning rate; training images/s) against the epoch, the \
            optimizer step or the elapsed training + evaluation time. Several runs are overlaid, a colour each, named \
            by their directory; train lines are solid, val dashed, test dotted. One run's plot goes to RUN_DIR/plot.svg \
            and RUN_DIR/plot.png, replaced on every call; several runs need --output.
            """)

    @Argument(help: ArgumentHelp("Run directories written by `wavemix train` (each holding summary.csv).", valueName: "run-dir"))
    var runDirectories: [String]
    @Option(name: .customLong("x"), help: ArgumentHelp(
        "Horizontal axis: the epoch, the optimizer step, or the training + evaluation time (in seconds, minutes or hours).",
        valueName: "axis"))
    var xAxis: XAxis = .epoch
    @Option(help: ArgumentHelp("Write PREFIX.svg and PREFIX.png (a trailing .svg or .png is dropped; default RUN_DIR/plot for one run).",
                               valueName: "prefix"))
    var output: String?
    @Flag(help: "Replace the --output files if they exist.") var force = false

    func validate() throws {
        guard output != nil || runDirectories.count == 1 else {
            throw ValidationError("several runs need --output PREFIX (where to write PREFIX.svg and PREFIX.png)")
        }
        if let output, output.isEmpty { throw ValidationError("--output needs a file name prefix") }
    }

    func run() throws {
        let runs = try runDirectories.map { directory throws(PlotError) in try RunSummary.read(runDirectory: directory) }
        let prefix: String
        if let output {
            prefix = [".svg", ".png"].first(where: output.hasSuffix).map { String(output.dropLast($0.count)) } ?? output
            for file in RunPlot.files(prefix: prefix) { try refuseToReplace(file, force: force) }
        } else {
            prefix = URL(fileURLWithPath: runDirectories[0]).appendingPathComponent("plot").path
        }
        try RunPlot.write(runs, x: xAxis, prefix: prefix)
        print("wrote \(RunPlot.files(prefix: prefix).joined(separator: " and "))")
    }
}
