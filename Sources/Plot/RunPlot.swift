// `wavemix plot`'s work: runs' summaries drawn as one figure, written as PREFIX.svg and PREFIX.png
// (1200 x 900 pixels).
import Data
import Foundation

public enum RunPlot {
    /// The files a plot writes for `prefix`: the SVG, then the PNG.
    public static func files(prefix: String) -> [String] {
        [prefix + ".svg", prefix + ".png"]
    }

    /// Draws `runs` against `x` and writes (or replaces) the two files of `prefix`.
    public static func write(_ runs: [RunSummary], x: XAxis, prefix: String) throws(DataError) {
        let figure = Figure(runs: runs, x: x)
        let paths = files(prefix: prefix)
        let png = try PNGCodec.encode(rgb: Rasterizer.render(figure), width: figure.width, height: figure.height, file: paths[1])
        try save(Data(SVGDocument.render(figure).utf8), to: paths[0])
        try save(Data(png), to: paths[1])
    }

    /// Written to a temporary file and renamed, so a reader never sees half a file.
    private static func save(_ data: Data, to path: String) throws(DataError) {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw .unwritable(file: path, reason: fileErrorReason(error))
        }
    }
}
