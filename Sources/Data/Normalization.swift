// Per-channel input normalisation, (x / 255 - mean) / std, and the defaults of each data set:
//   Fashion-MNIST  mean 0.2860, std 0.3530 (the usual published values)
//   MNIST          mean 0.1307, std 0.3081
//   CIFAR-10/100   their training sets' usual statistics; ImageNet's for ImageNet, ImageFolder, Places-365
//   other IDX sets measured on the training set (population std over all pixels of a channel;
//                  a channel with no spread gets std 1)

public struct Normalization: Sendable, Equatable {
    /// One value per channel, or one value for all channels.
    public let mean: [Float]
    public let std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(!mean.isEmpty && mean.count == std.count, "Normalization: mean and std need the same, non-zero count")
        precondition(std.allSatisfy { $0 > 0 }, "Normalization: std must be positive")
        self.mean = mean
        self.std = std
    }

    public static let fashionMNIST = Normalization(mean: [0.2860], std: [0.3530])
    public static let mnist = Normalization(mean: [0.1307], std: [0.3081])

    /// Mean and population std of x / 255 per channel over every pixel of `set`.
    public static func measured(from set: ImageSet) -> Normalization {
        // A histogram per channel makes this one pass of byte increments, exact in Int.
        var histogram = [Int](repeating: 0, count: 256 * set.channels)
        set.pixels.withUnsafeBufferPointer { pixels in
            var c = 0
            for value in pixels {
                histogram[c * 256 + Int(value)] += 1
                c = c + 1 == set.channels ? 0 : c + 1
            }
        }
        var means: [Float] = []
        var stds: [Float] = []
        for c in 0..<set.channels {
            let bins = histogram[(c * 256)..<(c * 256 + 256)]
            let n = Double(bins.reduce(0, +))
            let mean = zip(0..., bins).reduce(0.0) { $0 + Double($1.0) / 255 * Double($1.1) } / n
            let variance = zip(0..., bins).reduce(0.0) { sum, bin in
                let d = Double(bin.0) / 255 - mean
                return sum + d * d * Double(bin.1)
            } / n
            means.append(Float(mean))
            stds.append(variance > 0 ? Float(variance.squareRoot()) : 1)
        }
        return Normalization(mean: means, std: stds)
    }
}

extension Normalization {
    /// ImageNet's statistics (torchvision's), also the default of ImageFolder, Places-365 and packed sets.
    public static let imageNet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// CIFAR-10 and CIFAR-100 training-set statistics (population std).
    public static let cifar10 = Normalization(mean: [0.4914, 0.4822, 0.4465], std: [0.2470, 0.2435, 0.2616])
    public static let cifar100 = Normalization(mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762])
}
