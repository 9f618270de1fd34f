"""Choose how a reader's detector maps become line boxes (models/fots/decode.py ``Decoding``:
threshold, joining the pieces of a split line, widening and heightening the boxes) on
validation data, never on a set it is scored on:

    python -m models.fots.tune_decoding --weights models/fots/weights/fots-lite \
        --photos datasets/real-useby/train --write

The frames are those of the benchmark's generator at the validation indices (5000 and up,
``data.VALID_START``; the embedded set is 0-199, training 10000 and up), written as JPEG
and cropped to their code boxes as the harness reads them (bench/dataset.py); ``--photos``
adds a dataset one may train on (real photographs: a decoding that suits the generator
alone may not suit print). All are read as the ``onnx-cpu`` cell reads them
(adapters/fots.py, no torch). Every setting of the grid is scored by the mean of its strict
accuracy on each source (ties: the lower mean CER, then the one listed first, the reader's
defaults first); ``--write`` records the best in the weights' ``config.json`` with what it
was chosen on, where the adapter takes it as that reader's default.
"""
import argparse
import itertools
import json
import os
import tempfile
from typing import Dict, List, Sequence, Tuple

import numpy as np

from adapters.base import join_reading_order
from bench import dataset, metrics
from models.fots import data, decode
from synth import frames

GRID = {"threshold": (0.5, 0.45, 0.55), "join": (None, 0.8, 1.5, 3.0, 6.0), "widen": (0.0, 0.2, 0.4),
        "taller": (0.0, 0.04)}


def settings() -> List[decode.Decoding]:
    """The grid, the reader's defaults first."""
    return [decode.Decoding(*values) for values in itertools.product(*(GRID[f] for f in decode.Decoding._fields))]


def crops(location: str) -> Tuple[List[np.ndarray], List[str]]:
    """A dataset's images as the harness reads them (grey, cropped to their boxes), and their labels."""
    entries = dataset.open_dataset(location).entries
    return [dataset.decode(dataset.read_bytes(entry), entry) for entry in entries], [entry.text for entry in entries]


def score(adapter, canvases: Sequence, labels: Sequence[str], decoding: decode.Decoding) -> Dict[str, float]:
    """Strict accuracy and CER of the adapter reading ``canvases`` with ``decoding``."""
    adapter.decoding = decoding
    return metrics.corpus([metrics.counts(metrics.normalize(join_reading_order(adapter.infer(canvas))),
                                          metrics.normalize(label)) for canvas, label in zip(canvases, labels)])


def mean(scores: Sequence[Dict[str, float]], name: str) -> float:
    return float(np.mean([s[name] for s in scores]))


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", required=True, help="a reader's weights folder (with its onnx/ graphs)")
    parser.add_argument("--frames", type=int, default=data.VALID_FRAMES, help="validation frames to score on")
    parser.add_argument("--photos", help="a dataset folder one may train on (manifest.csv) scored beside the frames")
    parser.add_argument("--write", action="store_true", help="record the best setting in the weights' config.json")
    args = parser.parse_args(argv)
    if not 1 <= args.frames <= data.VALID_FRAMES:
        parser.error("--frames: 1 to %d (the validation indices), got %d" % (data.VALID_FRAMES, args.frames))
    from adapters.base import ModeUnavailable
    from adapters.fots import Adapter

    adapter = Adapter()
    try:
        Adapter.check_options({"weights": args.weights})
        adapter.load("onnx-cpu", {"weights": args.weights})
    except (ValueError, ModeUnavailable) as exc:
        parser.error("--weights: %s" % exc)
    photos = None
    if args.photos:  # read first: a mistake there is told before the frames are made
        try:
            photos = crops(args.photos)
        except (dataset.ManifestError, dataset.SampleError) as exc:
            parser.error("--photos: %s" % exc)
    names = ["validation frames %d-%d of the benchmark's generator (seed %d)"
             % (data.VALID_START, data.VALID_START + args.frames - 1, data.TRAIN_SEED)]
    with tempfile.TemporaryDirectory() as folder:
        sources = [crops(frames.write_dataset(folder, data.TRAIN_SEED, args.frames, start=data.VALID_START))]
    if photos:
        sources.append(photos)
        names.append("%d photographs of %s" % (len(photos[0]), args.photos))
    sources = [([adapter.preprocess(image) for image in images], labels) for images, labels in sources]
    results = [(d, [score(adapter, canvases, labels, d) for canvases, labels in sources]) for d in settings()]
    ranked = sorted(range(len(results)), key=lambda k: (-mean(results[k][1], "strict_acc"),
                                                         mean(results[k][1], "cer"), k))
    print("| threshold | join | widen | taller | %s |\n| --- | --- | --- | --- |%s"
          % (" | ".join("%s exact %%" % n.split(" of ")[0] for n in names), " --- |" * len(names)))
    for k in ranked[:10]:
        print("| %s | %s | %s | %s | " % results[k][0] + " | ".join("%.2f" % (100 * s["strict_acc"]) for s in results[k][1])
              + " |")
    best, scores = results[ranked[0]]
    chosen = "mean strict accuracy %.4f against %.4f with the defaults, on %s" % (
        mean(scores, "strict_acc"), mean(results[0][1], "strict_acc"), " and ".join(names))
    print("chosen: %s, %s" % (dict(best._asdict()), chosen))
    if args.write:
        path = os.path.join(args.weights, "config.json")
        with open(path) as f:
            config = json.load(f)
        command = "python -m models.fots.tune_decoding --weights %s --frames %d%s --write" % (
            args.weights, args.frames, " --photos %s" % args.photos if args.photos else "")
        config["decoding"] = dict(best._asdict(), chosen_on=chosen, command=command)
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        print("written to %s" % path)


if __name__ == "__main__":
    main()
