// Softmax cross-entropy (F.cross_entropy, mean reduction) and top-k counts over logits [n, classes].
import Foundation

public struct ClassificationCounts: Sendable, Equatable {
    /// Sum of per-sample losses (not the mean), so shards can be added exactly.
    public var lossSum: Double = 0
    public var top1 = 0
    public var top5 = 0
    public var samples = 0
    public init() {}
}

/// Returns mean loss and counts; if dLogits is given, writes d(mean loss)/d(logits) = (softmax - onehot) / n.
@discardableResult
public func softmaxCrossEntropy(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch n: Int, classes k: Int,
                                dLogits: UnsafeMutablePointer<Float>?) -> (loss: Float, counts: ClassificationCounts) {
    var counts = ClassificationCounts()
    counts.samples = n
    for i in 0..<n {
        let row = logits + i * k
        let label = Int(labels[i])
        var maxValue = row[0]
        for j in 1..<k { maxValue = max(maxValue, row[j]) }
        var sum = 0.0
        for j in 0..<k { sum += exp(Double(row[j] - maxValue)) }
        let logSum = log(sum) + Double(maxValue)
        counts.lossSum += logSum - Double(row[label])
        let higher = classesAtOrAbove(label: label, row: row, classes: k)
        if higher == 0 { counts.top1 += 1 }
        if higher < 5 { counts.top5 += 1 }
        if let dLogits {
            let d = dLogits + i * k
            for j in 0..<k { d[j] = Float(exp(Double(row[j]) - logSum) / Double(n)) }
            d[label] -= 1 / Float(n)
        }
    }
    return (Float(counts.lossSum / Double(n)), counts)
}

/// Rank of the true class in one row of logits: how many other classes score at least as high (ties
/// count against it, as topk may pick either). A row with a NaN or infinite logit gives Int.max, in
/// no top-k: a diverged model is wrong, not right because NaN never compares greater.
@inline(__always)
public func classesAtOrAbove(label: Int, row: UnsafePointer<Float>, classes k: Int) -> Int {
    for j in 0..<k where !row[j].isFinite { return Int.max }
    var higher = 0
    for j in 0..<k where j != label && row[j] >= row[label] { higher += 1 }
    return higher
}
