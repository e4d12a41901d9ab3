#!/usr/bin/env python3
"""Write the TensorBoard event file that Tests/TrainingTests/TensorBoardTests.swift compares with
TensorBoardWriter's bytes, using the tensorboard package's own writer (EventFileWriter, as
torch.utils.tensorboard uses it) with scalars as Summary.Value.simple_value.

  PY=$(scripts/setup_reference.sh) && $PY -m pip install tensorboard
  $PY scripts/tensorboard_fixture.py Tests/TrainingTests/Fixtures/tensorboard.events

The events (steps, wall times, tags, values) are the Swift test's `fixtureEvents`: change both
together. The file-version event's wall time is fixed by stubbing time.time while the writer opens.
"""
import glob
import math
import shutil
import sys
import tempfile
from unittest import mock

import tensorboard
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer import event_file_writer

FILE_WALL_TIME = 1700000000.25
EVENTS = [  # (step, wall time, [(tag, value)])
    (0, 1700000001.5, [("train/loss", 2.302585092994046), ("train/lr", 0.0), ("train/images_per_second", 1234.5)]),
    (1, 1700000002.125, [("train/loss", 0.1), ("train/lr", 1e-3), ("train/images_per_second", 987.654321)]),
    (100, 1700000100.0, [("val/loss", 0.4), ("val/top1", 0.875), ("val/top5", 1.0)]),
    (4294967303, 1700003600.75, [("test/loss", math.nan), ("test/top1", math.inf), ("test/top5", -math.inf)]),
    (7, 0.0, [("edge/negative_zero", -0.0), ("edge/subnormal", 1e-40), ("edge/float_max", 3.4028234663852886e38),
              ("edge/tie_to_even", 16777217.0), ("edge/ünïcode", -2.5), ("edge/" + "x" * 150, 42.0)]),
]


def main(out):
    with tempfile.TemporaryDirectory() as directory:
        with mock.patch.object(event_file_writer.time, "time", return_value=FILE_WALL_TIME):
            writer = event_file_writer.EventFileWriter(directory)
        for step, wall_time, values in EVENTS:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)
                                                 for tag, value in values])
            writer.add_event(event_pb2.Event(wall_time=wall_time, step=step, summary=summary))
        writer.close()
        [path] = glob.glob(directory + "/events.out.tfevents.*")
        shutil.copyfile(path, out)
    print(f"wrote {out} with tensorboard {tensorboard.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
