"""Train a reader's detector alone, on another backbone, keeping the line recogniser of a
trained reader: the lean reader's detector (MobileNetV3-small at half resolution, a tenth
of B0's time; docs/our-reader.md, "Lean").

    python -m models.fots.train_detector --out models/fots/weights/fots-lite --minutes 60

The detector learns from generated frames (the score and box targets of their true lines,
as models/fots/train.py's detection loss) and, with ``--real``, from real photographs without
boxes: the committed reader's detector (the teacher) marks their lines once at the start, and
its maps are the targets (a ``--real-share`` of each batch, with their light varied). Only
photographs one may train on belong there (``datasets/real-useby/train``). The recogniser
(``--recognizer``, default the committed reader's) is copied in and not trained. Through the
project's one training loop (models/training.py): validation end to end on the generator's
held-out frames (models/fots/evaluate.py), keeping the weights that read them best, then the
ONNX graphs beside them.
"""
import argparse
import csv
import json
import os
import sys
from typing import Any, Dict, List, Optional

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader

from adapters.base import kept_steps
from models import training
from models.fots import data, orient, reader
from models.fots.net import BACKBONES, FOTS
from models.fots.train import Frames, FotsTask, collate, detection_loss


def real_canvases(folder: str, teacher) -> Dict[str, np.ndarray]:
    """Every photograph of a dataset folder (``manifest.csv``: image and box) as the reader
    sees it (cropped to its box, turned level, on a full canvas) and the teacher's maps of it:
    ``images`` (N, 1, H, W), ``scores`` (N, 1, h, w) 0/1 where the teacher's score passes
    0.5, ``geometry`` (N, 4, h, w)."""
    images = []
    with open(os.path.join(folder, "manifest.csv"), newline="") as f:
        for row in csv.DictReader(f):
            gray = cv2.imread(os.path.join(folder, row["image"]), cv2.IMREAD_GRAYSCALE)
            if gray is None:
                raise training.TrainingError("%s: cannot read %s" % (folder, row["image"]))
            x, y, w, h = (int(row[k]) for k in "xywh")
            gray = gray[y:y + h, x:x + w]
            images.append(data.for_reading(gray, fit=False, angle=orient.text_angle(gray)).image[None])
    images = np.stack(images)
    backend = reader.TorchBackend(teacher)
    scores, geometry = [], []
    for k in range(0, len(images), 16):
        score, geo, _ = backend.detect(images[k:k + 16])
        scores.append((score > 0.5).astype(np.float32))
        geometry.append(geo)
    return {"images": images, "scores": np.concatenate(scores), "geometry": np.concatenate(geometry)}


def varied_light(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each canvas with its contrast, brightness and gamma changed a little (the targets stay)."""
    gain = rng.uniform(0.7, 1.2, (len(images), 1, 1, 1))
    bias = rng.uniform(-0.15, 0.15, (len(images), 1, 1, 1))
    gamma = np.exp(rng.uniform(-0.4, 0.4, (len(images), 1, 1, 1)))
    return np.clip((np.clip(images, 0, 1) ** gamma) * gain + bias, 0.0, 1.0).astype(np.float32)


class DetectorTask(FotsTask):
    """The detector half of a reader; its recogniser is frozen and only read at validation
    (validation and saving as the joint training's)."""

    def __init__(self, args, real: Optional[Dict[str, np.ndarray]]) -> None:
        super().__init__(args)
        self.real = real
        self.n_real = int(round(args.batch * args.real_share)) if real is not None else 0

    def batches(self, step: int):
        frames = Frames(self.args.first_frame + step * self.args.batch, 10 ** 9, self.args.random_lines, self.args.styles)
        loader = iter(DataLoader(frames, batch_size=self.args.batch - self.n_real, collate_fn=collate,
                                 num_workers=self.args.workers, prefetch_factor=4 if self.args.workers else None))
        rng = np.random.default_rng([data.TRAIN_SEED, step, 7])
        for images, scores, geometry, _, _, _ in loader:
            if self.n_real:
                pick = rng.integers(0, len(self.real["images"]), self.n_real)
                images = torch.cat([images, torch.from_numpy(varied_light(self.real["images"][pick], rng))])
                scores = torch.cat([scores, torch.from_numpy(self.real["scores"][pick])])
                geometry = torch.cat([geometry, torch.from_numpy(self.real["geometry"][pick])])
            yield images, scores, geometry

    def loss(self, model: FOTS, batch, device: str):
        images, scores, geometry = batch
        score, geo = model.detect(model.features(images.to(device)))
        return {"loss": detection_loss(score.float(), geo.float(), scores.to(device), geometry.to(device))}

    def finish(self, folder: str) -> None:
        from models.fots import upright
        from models.fots.export import write_graphs

        write_graphs(folder, upright.WEIGHTS)  # with the one-pass recogniser graph: the recogniser is upright's

    def settings(self) -> Dict[str, Any]:
        a = self.args
        with open(os.path.join(a.recognizer, "config.json")) as f:
            recognizer = json.load(f)
        return {"backbone": a.backbone, "width": a.width, "hidden": recognizer["hidden"], "recognizer": "pixels",
                "lines": recognizer.get("lines"), "recognizer_from": os.path.relpath(a.recognizer),
                "recognizer_steps": kept_steps(recognizer), "canvas": [data.CANVAS_H, data.CANVAS_W], "batch": a.batch,
                "random_lines": a.random_lines, "styles": a.styles, "train_seed": data.TRAIN_SEED,
                "train_start": a.first_frame, "init": os.path.relpath(a.init) if a.init else None,
                "real": {"folder": os.path.relpath(a.real), "share": a.real_share, "photos": len(self.real["images"]),
                         "targets": "the teacher's maps (%s)" % os.path.relpath(a.recognizer)}
                if self.real is not None else None}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="weights folder of the new reader")
    parser.add_argument("--recognizer", default=reader.WEIGHTS,
                        help="the reader whose line recogniser is kept, and whose detector marks --real's lines "
                             "(default: %(default)s)")
    parser.add_argument("--backbone", default="mnv3s", choices=sorted(BACKBONES))
    parser.add_argument("--width", type=training.count, default=32)
    parser.add_argument("--batch", type=training.count, default=16)
    parser.add_argument("--lr", type=training.positive, default=2e-3)
    parser.add_argument("--minutes", type=training.positive, default=60)
    parser.add_argument("--steps", type=training.count, default=None)
    parser.add_argument("--valid", type=training.count, default=64, help="frames per validation group")
    parser.add_argument("--valid-every", type=training.count, default=1000)
    parser.add_argument("--log-every", type=training.count, default=100)
    parser.add_argument("--random-lines", type=training.share, default=0.3)
    parser.add_argument("--styles", type=training.share, default=0.5)
    parser.add_argument("--first-frame", type=training.count, default=data.TRAIN_START,
                        help="the generator's index of the first training frame (default: %(default)s; a run that "
                             "continues another with --init may start past the frames it saw)")
    parser.add_argument("--real", help="a dataset folder of real photographs one may train on (manifest.csv)")
    parser.add_argument("--real-share", type=training.share, default=0.125, help="share of each batch from --real")
    parser.add_argument("--workers", type=training.count0, default=1, help="processes making frames")
    parser.add_argument("--init", help="a reader's weights folder to start the detector from, wherever its "
                                       "parameters have the same names and shapes (e.g. a narrower head)")
    training.bf16_option(parser)
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    args = parser.parse_args(argv)
    if args.first_frame < data.TRAIN_START:
        parser.error("--first-frame %d: training frames start at %d (below: the benchmark's and validation's)"
                     % (args.first_frame, data.TRAIN_START))
    where = training.device()
    torch.manual_seed(0)
    teacher, config = reader.load(args.recognizer, where)
    if config.get("recognizer") != "pixels":
        parser.error("--recognizer %s: not a reader with a line recogniser" % args.recognizer)
    model = FOTS(args.backbone, args.width, config["hidden"], "pixels").to(where)
    model.lines.load_state_dict(teacher.lines.state_dict())
    for p in model.lines.parameters():
        p.requires_grad_(False)
    if args.init and not args.resume:
        start = torch.load(os.path.join(args.init, "model.pt"), map_location="cpu")
        mine = model.state_dict()
        same = {k: v.to(mine[k].dtype) for k, v in start.items()
                if not k.startswith("lines.") and k in mine and v.shape == mine[k].shape}
        model.load_state_dict(same, strict=False)
        print("--init %s: %d of %d detector tensors taken" % (args.init, len(same), sum(
            not k.startswith("lines.") for k in mine)), flush=True)
    real = real_canvases(args.real, teacher) if args.real else None
    del teacher
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=1e-4)
    schedule = training.Schedule(lr=args.lr, minutes=args.minutes, steps=args.steps, warmup=300,
                                 bf16=training.use_bf16(args.bf16), log_every=args.log_every,
                                 valid_every=args.valid_every)
    training.fit(DetectorTask(args, real), model.train(), optimizer, args.out, schedule, resume=args.resume,
                 where=where)


if __name__ == "__main__":
    sys.exit(main())
