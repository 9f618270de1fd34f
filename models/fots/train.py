"""Train the FOTS code reader on generated frames, jointly (detection + recognition, the
recogniser fed the true line boxes, as FOTS does). Uses the GPU when there is one.

    python -m models.fots.train --out models/fots/weights/fots-b0 --minutes 60

Resumable: ``--resume`` continues from ``<out>/checkpoint.pt`` (weights, optimiser, step;
kept out of git), or, on another machine, from the committed fp16 ``<out>/model.pt`` with a
fresh optimiser. The training samples are generator indices from 10000 on, in order
(step s uses indices 10000 + s * batch ...), so a resumed run sees new data, never the
benchmark's (0-199) nor validation's (5000-5999). Each save rewrites ``model.pt`` (fp16) and
``config.json`` (settings, command, steps, seconds, validation) and appends to
``train.log`` (one JSON line per log interval).
"""
import argparse
import json
import os
import sys
import time
from typing import Callable, List

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

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


def save(model: FOTS, optimizer, step: int, args, seconds: float, valid: dict, extra: dict) -> None:
    """``model.pt`` (fp16), ``checkpoint.pt`` (fp32 with the optimiser) and ``config.json``
    (settings, ``extra``, the command, steps, seconds, validation) in ``args.out``."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(state, os.path.join(args.out, "model.pt"))
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "seconds": seconds},
               os.path.join(args.out, "checkpoint.pt"))
    config = {"backbone": args.backbone, "width": args.width, "hidden": args.hidden,
              "canvas": [data.CANVAS_H, data.CANVAS_W], "batch": args.batch, "lr": args.lr,
              "random_lines": args.random_lines, "styles": args.styles,
              "train_seed": data.TRAIN_SEED, "train_indices": [data.TRAIN_START, data.TRAIN_START + step * args.batch],
              "steps": step, "train_seconds": round(seconds), "validation": valid,
              "command": "python -m models.fots.train " + " ".join(sys.argv[1:]),
              "torch": torch.__version__}
    config.update(extra)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def arguments(parser: argparse.ArgumentParser, out: str) -> argparse.ArgumentParser:
    """The options training and fine-tuning share; ``out``: where weights go by default."""
    parser.add_argument("--out", default=out, help="weights folder (default: %(default)s)")
    parser.add_argument("--backbone", default="b0", choices=["b0", "b1", "b2", "b3"])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3,
                        help="peak learning rate; it follows a cosine down to 5%% of it over this run's minutes")
    parser.add_argument("--minutes", type=float, default=60, help="stop after this much training time")
    parser.add_argument("--steps", type=int, default=None, help="or after this many steps in all")
    parser.add_argument("--save-every", type=int, default=200)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--random-lines", type=float, default=0.3,
                        help="share of generated frames that print random characters instead of a code, so that "
                             "the recogniser reads rather than recites the grammars")
    parser.add_argument("--styles", type=float, default=0.5,
                        help="share of generated frames from the printing-style generator (models/fots/printing.py: "
                             "more fonts, print techniques, surfaces, code formats; about 14x cheaper to make), the "
                             "rest from the benchmark's generator")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2),
                        help="processes making frames (default: all cores but two, at least one)")
    parser.add_argument("--valid", type=int, default=64, help="held-out frames read end to end at each save")
    parser.add_argument("--bf16", action="store_true",
                        help="compute in bfloat16 where autocast allows (weights stay fp32): on a CPU with "
                             "AVX512-BF16 or AMX steps take about half the time; without, they are slower")
    parser.add_argument("--resume", action="store_true")
    return parser


def start(args, device: str, initial: str = None):
    """Model, optimiser, steps and seconds so far: from ``<out>/checkpoint.pt`` or
    ``<out>/model.pt`` with ``--resume``, else from the weights folder ``initial`` (fine-tuning;
    counts restart), else new."""
    torch.manual_seed(0)
    model = FOTS(args.backbone, args.width, args.hidden).to(device)
    step, seconds = 0, 0.0
    checkpoint = os.path.join(args.out, "checkpoint.pt")
    state = None
    if args.resume and os.path.isfile(checkpoint):
        state = torch.load(checkpoint, map_location=device, weights_only=False)  # our own file: optimiser too
        model.load_state_dict(state["model"])
        step, seconds = state["step"], state["seconds"]
    elif args.resume and os.path.isfile(os.path.join(args.out, "model.pt")):
        model, config = reader.load(args.out, device)
        step, seconds = config["steps"], float(config["train_seconds"])
    elif initial:
        model, _ = reader.load(initial, device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
    return model, optimizer, step, seconds


def fit(model: FOTS, optimizer, frames: Dataset, args, device: str, step: int, seconds: float,
        checks: Callable[[FOTS], dict], extra: dict) -> None:
    """Train until ``args.minutes`` or ``args.steps``; log every ``args.log_every`` steps, and
    at every ``args.save_every`` (and the last) run ``checks`` and save."""
    loader = DataLoader(frames, batch_size=args.batch, collate_fn=collate, num_workers=args.workers, prefetch_factor=4)
    log = open(os.path.join(args.out, "train.log"), "a")
    began, window = time.monotonic(), []
    window_began = began
    for images, scores, geometry, rois, labels, lengths in loader:
        progress = min(1.0, (time.monotonic() - began) / (args.minutes * 60))
        for group in optimizer.param_groups:
            group["lr"] = float(args.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * progress))))
        with torch.autocast(device, dtype=torch.bfloat16, enabled=args.bf16):
            out = {k: v.float() for k, v in model(images.to(device), rois.to(device)).items()}
        det = detection_loss(out["score"], out["geometry"], scores.to(device), geometry.to(device))
        rec = recognition_loss(out["rec"], labels, lengths)
        loss = det + rec
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        step += 1
        window.append((det.item(), rec.item()))
        elapsed = seconds + time.monotonic() - began
        done = (args.steps and step >= args.steps) or time.monotonic() - began >= args.minutes * 60
        if step % args.log_every == 0 or done:
            det_mean, rec_mean = np.mean(window, axis=0)
            entry = {"step": step, "seconds": round(elapsed), "lr": round(optimizer.param_groups[0]["lr"], 6),
                     "det_loss": round(float(det_mean), 4),
                     "rec_loss": round(float(rec_mean), 4),
                     "frames_per_s": round(len(window) * args.batch / (time.monotonic() - window_began), 2)}
            if step % args.save_every == 0 or done:
                valid = checks(model)
                entry.update(valid)
                save(model, optimizer, step, args, elapsed, valid, extra)
            log.write(json.dumps(entry) + "\n")
            log.flush()
            print(json.dumps(entry), flush=True)
            window, window_began = [], time.monotonic()
        if done:
            break


def main(argv: List[str] = None) -> None:
    args = arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]), reader.WEIGHTS).parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, optimizer, step, seconds = start(args, device)
    frames = Frames(data.TRAIN_START + step * args.batch, 10 ** 9, args.random_lines, args.styles)
    fit(model, optimizer, frames, args, device, step, seconds, lambda m: validate(m, device, args.valid), {})


if __name__ == "__main__":
    main()
