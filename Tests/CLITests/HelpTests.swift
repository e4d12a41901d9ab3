// The options of every subcommand, pinned: scripts and job files rely on these names, so renaming,
// dropping or adding one must show up here (and in the README) on purpose.
import TestSupport
import XCTest

final class HelpTests: XCTestCase {
    static let model = "--preset --depth --final-dim --ff-channel --mult --level --stem --patch-size --stride --dropout --num-classes"
    static let options: [String: String] = [
        "train": model + " --data --in-chans --image-size --strict --threads --run-dir --epochs --max-steps --batch-size"
            + " --grad-accum --clip-grad-norm --seed --sync-bn --log-every --tensorboard --eval-every --eval-batch-size"
            + " --bucket-mib --comm-timeout --optimizer --lr --weight-decay --momentum --nesterov --beta1 --beta2 --eps"
            + " --schedule --warmup-steps --step-size --gamma --min-lr --crop-padding --hflip --augment --trivial-augment"
            + " --val-split --patience --then-optimizer --then-lr --then-momentum --then-weight-decay --test-every-epoch"
            + " --resume --checkpoint-every --keep --stop-after-steps --init-from",
        "eval": "--checkpoint --data --batch-size --per-class --image-size --strict --threads",
        "prepare": "--threads --data --out --size --split --strict --no-dct-downscale",
        "checkpoint inspect": "--no-verify",
        "checkpoint export": "--safetensors --force",
        "checkpoint import": "--config --out --force",
        "bench": "--data --images --split --generate-jpegs --generate-empty --classes --index-only --delete-generated " + model
            + " --threads --batch-size --image-size --in-chans --steps --warmup --json --profile --bucket-mib",
        "debug-step": "--config --weights --batch --out",
        "plot": "--x --output --force",
    ]

    func testEverySubcommandHasItsOptionsAndOnlyThose() throws {
        let binary = try Programs.wavemix()
        for (command, expected) in Self.options.sorted(by: { $0.key < $1.key }) {
            let help = try Programs.run(binary, command.split(separator: " ").map(String.init) + ["--help"])
            XCTAssertEqual(help.status, 0, help.output)
            // Option lines start with two spaces, then "-x, " for a short name, then the long name.
            let names = help.stdout.split(separator: "\n").compactMap { line -> String? in
                guard let match = line.firstMatch(of: /^  (?:-[a-z], )?(--[a-z0-9-]+)/) else { return nil }
                return String(match.1)
            }.filter { $0 != "--help" && $0 != "--version" }
            XCTAssertEqual(names.joined(separator: " "), expected, "wavemix \(command) --help")
        }
    }
}
