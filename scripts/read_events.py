#!/usr/bin/env python3
"""Read a run directory's TensorBoard event files with TensorBoard's own
EventAccumulator and print what it found as JSON (tests/suite/engine/events.rs
checks it): scalars by tag as [step, value] pairs, images by tag (step,
width, height, the PNG in hex), text by tag, and the HParams plugin's
session info.

Usage: .venv/bin/python scripts/read_events.py RUN_DIR
"""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util


def main(run_dir):
    acc = ea.EventAccumulator(run_dir, size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
    acc.Reload()
    tags = acc.Tags()
    out = {
        "scalars": {
            t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]
        },
        "images": {
            t: [
                {
                    "step": e.step,
                    "width": e.width,
                    "height": e.height,
                    "png": e.encoded_image_string.hex(),
                }
                for e in acc.Images(t)
            ]
            for t in tags["images"]
        },
        "text": {},
        "hparams": {},
        "session_end": None,
    }
    for tag in acc.PluginTagToContent("text"):
        out["text"][tag] = [
            tensor_util.make_ndarray(e.tensor_proto).item().decode() for e in acc.Tensors(tag)
        ]
    for tag, content in acc.PluginTagToContent("hparams").items():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            for k, v in data.session_start_info.hparams.items():
                kind = v.WhichOneof("kind")
                out["hparams"][k] = getattr(v, kind)
        if data.HasField("session_end_info"):
            out["session_end"] = data.session_end_info.status
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
