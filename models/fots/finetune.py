"""Fine-tune the FOTS code reader on a user's own annotated photos (models/fots/annotated.py
says how to annotate), from the committed weights or named ones, with generated frames
mixed in so that it keeps what it knew. Uses the GPU when there is one.

    make train-fots DATASET=path/to/photos MINUTES=20
    python -m models.fots.finetune path/to/photos --minutes 20 [--from WEIGHTS] [--out FOLDER]

The photos' ``split: test`` rows (or, without any, every tenth image) are never trained on;
each save reads them end to end (``valid_user_exact``, ``valid_user_cer`` in ``train.log``
and ``config.json``) beside the generator's validation frames. The weights folder (default
``results/fots-weights/<dataset>``) holds ``model.pt`` and a ``config.json`` with the data's
manifest and its sha256, the weights it started from, the command and the steps; a suite names
it to benchmark it beside the committed reader:

    engines:
      fots-mine: {adapter: "adapters.fots:Adapter", modes: [cpu], options: {weights: results/fots-weights/photos}}
"""
import argparse
import json
import os
import sys
from typing import Dict, List

import numpy as np
import torch
from torch.utils.data import Dataset

from bench import metrics
from models.fots import annotated, data, reader
from models.fots.evaluate import read_sample, validate
from models.fots.train import arguments, as_item, fit, start


class Mixed(Dataset):
    """Item ``i``: a generated frame with probability ``generated``, else one of the
    training photos (drawn at random, freshly cropped and lit). Deterministic in ``i``."""

    def __init__(self, photos: List[annotated.Photo], start: int, generated: float, random_lines: float,
                 styles: float) -> None:
        self.photos, self.start, self.generated = photos, start, generated
        self.random_lines, self.styles = random_lines, styles

    def __len__(self) -> int:
        return 10 ** 9

    def __getitem__(self, i: int):
        rng = np.random.default_rng([data.TRAIN_SEED, self.start + i, 5])
        if rng.random() < self.generated:
            sample = data.training_sample(self.start + i, random_lines=self.random_lines, styles=self.styles)
        else:
            sample = annotated.sample(self.photos[int(rng.integers(len(self.photos)))], rng)
        return as_item(sample, rng)


def read_photos(model, device: str, photos: List[annotated.Photo]) -> Dict[str, float]:
    """The held-out photos read end to end (each cropped around its lines with a fixed margin):
    exact codes and CER of the lines joined top to bottom."""
    model.eval()
    backend = reader.TorchBackend(model, device)
    counts = [metrics.counts(read_sample(backend, annotated.sample(photo, None, augment=False))[0],
                             metrics.normalize(" ".join(text for _, text in photo.lines))) for photo in photos]
    model.train()
    scores = metrics.corpus(counts)
    return {"valid_user_exact": scores["strict_acc"], "valid_user_cer": scores["cer"], "valid_user_n": len(photos)}


def _mapping(pairs: List[str]) -> Dict[str, str]:
    out = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or len(source) != 1:
            raise annotated.AnnotationError("--map %s: expected one character, '=', and what it becomes (or nothing "
                                            "to drop it), e.g. --map a=A" % pair)
        out[source] = target
    return out


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", help="a folder with manifest.csv, or a manifest: one row per text line with its box")
    parser.add_argument("--from", dest="initial", default=reader.WEIGHTS,
                        help="weights folder to start from (default: the committed reader)")
    parser.add_argument("--generated", type=float, default=0.5,
                        help="share of each batch from the generators, so that the reader keeps what it knew")
    parser.add_argument("--map", action="append", default=[], metavar="C=R",
                        help="read character C in the annotations as R (R empty: drop C); repeatable")
    parser.add_argument("--drop-unknown", action="store_true",
                        help="drop characters outside the reader's vocabulary instead of refusing the set")
    arguments(parser, "")
    parser.set_defaults(lr=3e-4, minutes=20, save_every=50, log_every=10, valid=32)
    args = parser.parse_args(argv)
    try:
        photos = annotated.load(args.dataset, _mapping(args.map), args.drop_unknown)
    except annotated.AnnotationError as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    name = os.path.basename(os.path.dirname(os.path.abspath(photos.about["manifest"])))
    args.out = args.out or os.path.join("results", "fots-weights", name)
    os.makedirs(args.out, exist_ok=True)
    before = os.path.join(args.out, "config.json")
    if args.resume and os.path.isfile(before):
        with open(before) as f:
            trained_on = (json.load(f).get("dataset") or {}).get("manifest_sha256")
        if trained_on != photos.about["manifest_sha256"]:
            print("error: %s was fine-tuned on another manifest (sha256 %s..., now %s...); give another --out, or "
                  "drop --resume to start again from --from" % (args.out, (trained_on or "?")[:12],
                                                             photos.about["manifest_sha256"][:12]), file=sys.stderr)
            return 2
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, optimizer, step, seconds = start(args, device, initial=args.initial)
    with open(os.path.join(args.initial, "config.json")) as f:
        origin = json.load(f)
    print("fine-tuning %s (%d steps) on %d photos, %d held out (%s), into %s"
          % (args.initial, origin["steps"], photos.about["train_images"], photos.about["test_images"],
             photos.about["held_out"], args.out), file=sys.stderr)
    extra = {"dataset": photos.about, "generated": args.generated, "fine_tuned_from": {
        "weights": os.path.abspath(args.initial), "steps": origin["steps"]},
        "command": "python -m models.fots.finetune " + " ".join(sys.argv[1:] if argv is None else argv)}

    def checks(m) -> dict:
        return dict(validate(m, device, args.valid), **read_photos(m, device, photos.test))

    frames = Mixed(photos.train, data.TRAIN_START + step * args.batch, args.generated, args.random_lines, args.styles)
    fit(model, optimizer, frames, args, device, step, seconds, checks, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
