// Axis ranges with ticks at nice values (1, 2 or 5 times a power of ten, as in Heckbert's "Nice
// numbers for graph labels", Graphics Gems, 1990) and the labels of those ticks.
import Foundation

struct Ticks: Equatable {
    /// The axis range: the data range widened to whole ticks.
    let lower: Double
    let upper: Double
    let step: Double
    let values: [Double]

    /// About `count` ticks covering `low...high`, whole numbers only when `integral`. A range of
    /// one value is widened around it.
    init(low: Double, high: Double, count: Int = 5, integral: Bool = false) {
        precondition(low.isFinite && high.isFinite && low <= high, "ticks need a finite range")
        var low = low, high = high
        if high - low <= max(abs(low), abs(high)) * 1e-12 {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            (low, high) = (low - pad, high + pad)
        }
        let nice = Self.niceNumber((high - low) / Double(max(count - 1, 1)))
        let step = integral ? max(nice, 1) : nice
        let first = (low / step).rounded(.down), last = (high / step).rounded(.up)
        // Ticks as whole multiples of the step, so 0.1 + 0.2 noise never shows in a label.
        values = (0...min(Int(last - first), 100)).map { (first + Double($0)) * step }
        self.step = step
        lower = values.first!
        upper = values.last!
    }

    /// The nice number closest to `x`.
    static func niceNumber(_ x: Double) -> Double {
        let power = pow(10, log10(x).rounded(.down))
        let fraction = x / power
        return (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * power
    }

    /// Labels with as many decimals as the step needs ("0.25" for a step of 0.05), or in exponent
    /// form ("2e-4", "1.5e6") for very small or very large values.
    var labels: [String] {
        let largest = values.map(abs).max() ?? 0
        let stepDigits = Int(log10(step).rounded(.down))
        if largest >= 1e6 || largest < 1e-2 {
            let mantissaDigits = max(0, Int(log10(largest).rounded(.down)) - stepDigits)
            return values.map { $0 == 0 ? "0" : Self.exponentForm($0, digits: mantissaDigits) }
        }
        return values.map { value in
            let text = String(format: "%.*f", Int32(max(0, -stepDigits)), value)
            return Double(text) == 0 ? "0" : text  // never "-0.0"
        }
    }

    /// "2.5e-04" as "2.5e-4", "1e+06" as "1e6".
    private static func exponentForm(_ value: Double, digits: Int) -> String {
        let text = String(format: "%.*e", Int32(digits), value)
        guard let e = text.firstIndex(of: "e"), let exponent = Int(text[text.index(after: e)...]) else { return text }
        return "\(text[..<e])e\(exponent)"
    }
}
