"""Train the FOTS code reader on generated frames, jointly (detection + recognition, the
recogniser fed the true line boxes, as FOTS does). Uses the GPU when there is one.

    python -m models.fots.train --out models/fots/weights/fots-b0 --minutes 60

This trains the detector and the ``features`` recogniser (the reader before its line
recogniser; the committed reader keeps this detector, models/fots/train_lines.py trains its
line recogniser). Through the project's one training loop (models/training.py): resumable
with ``--resume`` from ``<out>/checkpoint.pt`` (weights, optimiser, step; kept out of git),
or, on another machine, from the committed fp16 ``<out>/model.pt`` with a fresh optimiser;
the weights that validate best are kept. The training samples are generator indices from
10000 on, in order (step s uses indices 10000 + s * batch ...), so a resumed run sees new
data, never the benchmark's (0-199) nor validation's (5000-5999).
"""
import argparse
import os
from typing import List

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from models import training
from models.fots import data, reader
from models.fots.evaluate import validate
from models.fots.net import FOTS, encode


JITTER_X, JITTER_Y = 0.25, 0.1  # recognition boxes' edges move by up to this much of the line height


def jitter(boxes, rng: np.random.Generator) -> list:
    """The true line boxes with each edge moved at random, so that recognition learns to
    read from the slightly-off boxes that detection gives at inference."""
    out = []
    for x0, y0, x1, y1 in boxes:
        h = y1 - y0
        dx = rng.uniform(-JITTER_X, JITTER_X, 2) * h
        dy = rng.uniform(-JITTER_Y, JITTER_Y, 2) * h
        out.append((x0 + dx[0], y0 + dy[0], x1 + dx[1], y1 + dy[1]))
    return out


def as_item(sample: data.TrainingSample, rng: np.random.Generator) -> tuple:
    """What the loader yields for one frame: canvas, score and geometry targets, the
    jittered line boxes the recogniser reads from, the lines' texts."""
    score, geometry = data.targets(sample.boxes)
    return sample.image[None], score, geometry, jitter(sample.boxes, rng), sample.texts


class Frames(Dataset):
    """Training samples from generator index ``start`` on."""

    def __init__(self, start: int, count: int, random_lines: float = 0.0, styles: float = 0.0) -> None:
        self.start, self.count, self.random_lines, self.styles = start, count, random_lines, styles

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int):
        sample = data.training_sample(self.start + i, random_lines=self.random_lines, styles=self.styles)
        return as_item(sample, np.random.default_rng([data.TRAIN_SEED, self.start + i, 2]))


def collate(items):
    images = torch.from_numpy(np.stack([it[0] for it in items]))
    scores = torch.from_numpy(np.stack([it[1] for it in items]))
    geometry = torch.from_numpy(np.stack([it[2] for it in items]))
    rois, labels, lengths = [], [], []
    for b, (_, _, _, boxes, texts) in enumerate(items):
        for box, text in zip(boxes, texts):
            rois.append([float(b)] + list(box))
            labels += encode(text)
            lengths.append(len(text))
    return images, scores, geometry, torch.tensor(rois, dtype=torch.float32), torch.tensor(labels), torch.tensor(lengths)


def detection_loss(score_logits, geometry, score_t, geometry_t) -> torch.Tensor:
    """Dice loss on the score map + IoU loss of the axis-aligned boxes on text pixels."""
    p = torch.sigmoid(score_logits)
    dice = 1 - 2 * (p * score_t).sum() / (p.sum() + score_t.sum() + 1e-6)
    positive = score_t[:, 0] > 0.5
    if not positive.any():
        return dice
    pred = geometry.permute(0, 2, 3, 1)[positive]
    true = geometry_t.permute(0, 2, 3, 1)[positive]
    area_p = (pred[:, 0] + pred[:, 1]) * (pred[:, 2] + pred[:, 3])
    area_t = (true[:, 0] + true[:, 1]) * (true[:, 2] + true[:, 3])
    inter = (torch.min(pred[:, 0], true[:, 0]) + torch.min(pred[:, 1], true[:, 1])) * \
            (torch.min(pred[:, 2], true[:, 2]) + torch.min(pred[:, 3], true[:, 3]))
    return dice + (-torch.log((inter + 1) / (area_p + area_t - inter + 1))).mean()


def recognition_loss(log_probs, labels, lengths) -> torch.Tensor:
    steps = torch.full((log_probs.shape[1],), log_probs.shape[0], dtype=torch.long)
    return F.ctc_loss(log_probs, labels, steps, lengths, blank=0, zero_infinity=True)


class FotsTask(training.Task):
    """The whole FOTS model (detector and shared-features recogniser) on generated canvases."""

    main = "valid_mean_exact"  # the benchmark's generator, the printing styles and the held-out ones alike

    def __init__(self, args) -> None:
        self.args = args

    def batches(self, step: int):
        frames = Frames(data.TRAIN_START + step * self.args.batch, 10 ** 9, self.args.random_lines, self.args.styles)
        return iter(DataLoader(frames, batch_size=self.args.batch, collate_fn=collate, num_workers=self.args.workers,
                               prefetch_factor=4))

    def size(self, batch) -> int:
        return int(batch[0].shape[0])

    def loss(self, model: FOTS, batch, device: str):
        images, scores, geometry, rois, labels, lengths = batch
        out = {k: v.float() for k, v in model(images.to(device), rois.to(device)).items()}
        det = detection_loss(out["score"], out["geometry"], scores.to(device), geometry.to(device))
        rec = recognition_loss(out["rec"], labels, lengths)
        return {"loss": det + rec, "det_loss": det, "rec_loss": rec}

    def validate(self, model: FOTS, device: str) -> dict:
        out = validate(model, device, self.args.valid)
        out["valid_mean_exact"] = round(float(np.mean([out[k] for k in ("valid_exact", "valid_styles_exact",
                                                                        "valid_held_out_exact")])), 4)
        return out

    def save(self, model: FOTS, folder: str) -> None:
        state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
        torch.save(state, os.path.join(folder, "model.pt.tmp"))  # whole, then in place: a kill leaves the last
        os.replace(os.path.join(folder, "model.pt.tmp"), os.path.join(folder, "model.pt"))

    def finish(self, folder: str) -> None:
        from models.fots.export import write_graphs

        write_graphs(folder)

    def settings(self) -> dict:
        a = self.args
        return {"backbone": a.backbone, "width": a.width, "hidden": a.hidden, "recognizer": "features",
                "canvas": [data.CANVAS_H, data.CANVAS_W], "batch": a.batch, "random_lines": a.random_lines,
                "styles": a.styles, "train_seed": data.TRAIN_SEED, "train_start": data.TRAIN_START}


def arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--out", default=reader.DETECTOR, help="weights folder (default: %(default)s)")
    parser.add_argument("--backbone", default="b0", choices=["b0", "b1", "b2", "b3"])
    parser.add_argument("--width", type=training.count, default=64)
    parser.add_argument("--hidden", type=training.count, default=96)
    parser.add_argument("--batch", type=training.count, default=16)
    parser.add_argument("--lr", type=training.positive, default=1e-3,
                        help="peak learning rate; it follows a cosine down to 5%% of it over this run's minutes")
    parser.add_argument("--minutes", type=training.positive, default=60, help="stop after this much training time")
    parser.add_argument("--steps", type=training.count, default=None, help="or after this many steps in all")
    parser.add_argument("--save-every", type=training.count, default=200, help="steps between validations (and saves)")
    parser.add_argument("--log-every", type=training.count, default=20)
    parser.add_argument("--random-lines", type=training.share, default=0.3,
                        help="share of generated frames that print random characters instead of a code, so that "
                             "the recogniser reads rather than recites the grammars")
    parser.add_argument("--styles", type=training.share, default=0.5,
                        help="share of generated frames from the printing-style generator (synth/printing.py: "
                             "more fonts, print techniques, surfaces, code formats; about 14x cheaper to make), the "
                             "rest from the benchmark's generator")
    parser.add_argument("--workers", type=training.count0, default=max(1, (os.cpu_count() or 2) - 2),
                        help="processes making frames (default: all cores but two, at least one)")
    parser.add_argument("--valid", type=training.count, default=64, help="held-out frames read end to end at each validation")
    training.bf16_option(parser)
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>/checkpoint.pt, or on another machine from <out>/model.pt with a "
                             "fresh optimiser")
    return parser


def main(argv: List[str] = None) -> None:
    args = arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0])).parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    where = training.device()
    torch.manual_seed(0)
    model = FOTS(args.backbone, args.width, args.hidden).to(where)
    begin = None
    if args.resume and not os.path.isfile(os.path.join(args.out, "checkpoint.pt")) and \
            os.path.isfile(os.path.join(args.out, "model.pt")):  # committed weights, no optimiser
        model, config = reader.load(args.out, where)
        begin = {"step": config["steps"], "seconds": float(config["train_seconds"]),
                 "samples": config.get("samples_seen", config["steps"] * config.get("batch", args.batch))}
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = training.Schedule(lr=args.lr, minutes=args.minutes, steps=args.steps,
                                 bf16=training.use_bf16(args.bf16),
                                 log_every=args.log_every, valid_every=args.save_every)
    training.fit(FotsTask(args), model.train(), optimizer, args.out, schedule, resume=args.resume, begin=begin,
                 where=where)


if __name__ == "__main__":
    main()
