// Mutated model configurations (the JSON `checkpoint import` and `debug-step` read) are accepted
// or refused in one line; none crashes, and an accepted one is checked by validate before use.
import Data
import Foundation
import Kernels
import Randomness
import TestSupport
import Training
import WaveMix
import XCTest

final class ConfigFuzzTests: XCTestCase {
    func testMutatedConfigurationsAreReadOrRefused() throws {
        let valid = Array(#"{"num_classes": 10, "depth": 2, "mult": 2, "ff_channel": 16, "final_dim": 16, "dropout": 0.5, "level": 1, "initial_conv": "strided", "patch_size": 4, "stride": 1, "in_chans": 1, "image_size": [16, 16]}"#.utf8)
        let path = temporaryDirectory(self, "config-fuzz") + "/config.json"
        let interesting = Array("{}[]\",:0123456789-.eE tfnul_".utf8)
        var rng = SplitMix64(key: 11, 3)
        var read = 0, refused = 0
        for _ in 0..<1500 {
            var json = valid
            for _ in 0...rng.nextInt(below: 3) where !json.isEmpty {
                let at = rng.nextInt(below: json.count)
                switch rng.nextInt(below: 3) {
                case 0: json[at] = interesting[rng.nextInt(below: interesting.count)]
                case 1: json.insert(interesting[rng.nextInt(below: interesting.count)], at: at)
                default: json.remove(at: at)
                }
            }
            try Data(json).write(to: URL(fileURLWithPath: path))
            do {
                let file = try DebugStepRunner.readConfig(path)
                read += 1
                if let size = file.imageSize, size.count == 2 { _ = try? file.model.validate(height: size[0], width: size[1]) }
            } catch let error as InputError {
                XCTAssertFalse(error.message.contains("\n"), error.message)
                refused += 1
            }
        }
        XCTAssertGreaterThan(read, 0)
        XCTAssertGreaterThan(refused, 0)
    }
}
