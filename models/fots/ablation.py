"""The ablation (model card models/fots/weights/fots-b0-lines/README.md) of what the reader's recogniser reads: the detector's shared
stride-4 features only (``features``, the reader before), the line's own pixels only
(``pixels``, the reader now), or both (``both``). Each is trained from nothing for the same
minutes on this machine, the committed detector frozen beneath it:

- ``pixels`` on line crops from the line cache (models/fots/train_lines.py): a sample is a
  line, not a canvas;
- ``features`` and ``both`` on generated canvases (the same generator mix as the cache), which
  pay for the detector's backbone on every canvas to get the features their lines are read
  from (RoIAlign; ``both`` over the same regions and steps as its pixels).

Each variant's weights go to ``<out>/<variant>/`` (a reader folder the adapter loads), its
validation end to end on the same validation frames (models/fots/evaluate.py) into
``<out>/<variant>/config.json``; ``bench/suites/fots-recognizers.yaml`` then measures all
three on the embedded set (exact, CER, ms, MB):

    python -m models.fots.ablation --cache ~/.cache/ocr-edge-bench/lines/train --minutes 15
    make bench SUITE=bench/suites/fots-recognizers.yaml ARGS="--engines fots-features,fots-pixels,fots-both"
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from models import training
from models.fots import data, evaluate, line_net, lines, reader, train_lines
from models.fots.net import FOTS, VOCAB, encode

VARIANTS = ("features", "pixels", "both")
DETECTOR_PARTS = ("stages", "lateral", "smooth", "det")


class Canvases(Dataset):
    """Generated canvases from training index ``start`` on (the line cache's mix), each with
    its lines' boxes off as a detector's may be and their pixels cut from its source."""

    def __init__(self, start: int) -> None:
        self.start = start

    def __len__(self) -> int:
        return 10 ** 9

    def __getitem__(self, i: int):
        sample = data.training_sample(self.start + i, random_lines=0.35, styles=0.75)
        rng = np.random.default_rng([data.TRAIN_SEED, self.start + i, 6])
        boxes = [train_lines.jittered(box, rng) for box in sample.boxes]
        pixels = [lines.line_input(sample.canvas.source, reader.to_source(box, sample.canvas)) for box in boxes]
        return sample.image[None], boxes, pixels, sample.texts


def collate(items):
    images = torch.from_numpy(np.stack([it[0] for it in items]))
    boxes = [(b, box) for b, it in enumerate(items) for box in it[1]]
    pixels, steps = lines.batch([p for it in items for p in it[2]])
    texts = [t for it in items for t in it[3]]
    rois = np.array([[b] + list(box) for b, box in boxes], np.float32).reshape(-1, 5)
    return (images, torch.from_numpy(rois), torch.from_numpy(pixels), torch.from_numpy(steps),
            torch.tensor([c for t in texts for c in encode(t)]), torch.tensor([len(t) for t in texts]))


class CanvasTask(training.Task):
    """A ``features`` or ``both`` recogniser on canvases, the detector frozen."""

    main = "valid_mean_exact"

    def __init__(self, kind: str, detector: str, batch: int, valid: int, workers: int) -> None:
        self.kind, self.detector, self.batch_size, self.valid, self.workers = kind, detector, batch, valid, workers

    def batches(self, step: int):
        return iter(DataLoader(Canvases(data.TRAIN_START + step * self.batch_size), batch_size=self.batch_size,
                               collate_fn=collate, num_workers=self.workers,
                               prefetch_factor=4 if self.workers else None))

    def size(self, batch) -> int:
        return int(batch[3].shape[0])  # lines

    def loss(self, model: FOTS, batch, device: str) -> Dict[str, torch.Tensor]:
        images, rois, pixels, steps, labels, lengths = batch
        for part in DETECTOR_PARTS:  # frozen: its batch statistics stay the committed ones
            getattr(model, part).eval()
        with torch.no_grad():
            feats = model.features(images.to(device))
        if self.kind == "both":
            rois = torch.cat([rois[:, :1], torch.from_numpy(lines.regions(
                rois[:, 1:].numpy(), (steps * lines.STEP).numpy(), pixels.shape[-1]))], 1)
        log_probs = model.recognize(feats, rois.to(device), pixels.to(device)).float()
        if self.kind == "features":
            steps = torch.full_like(steps, log_probs.shape[0])
        return {"loss": F.ctc_loss(log_probs, labels, steps, lengths, blank=0, zero_infinity=True)}

    def validate(self, model: FOTS, device: str) -> Dict[str, Any]:
        return mean_exact(evaluate.validate(model, device, self.valid))

    def save(self, model: FOTS, folder: str) -> None:
        state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
        torch.save(state, os.path.join(folder, "model.pt"))

    def settings(self) -> Dict[str, Any]:
        return dict(reader.detector_config(self.detector), recognizer=self.kind, batch=self.batch_size,
                    detector_from=os.path.abspath(self.detector), frozen_detector=True)


def mean_exact(figures: Dict[str, Any]) -> Dict[str, Any]:
    figures["valid_mean_exact"] = round(float(np.mean([figures[k] for k in (
        "valid_exact", "valid_styles_exact", "valid_held_out_exact")])), 4)
    return figures


def frozen_reader(kind: str, detector: str, where: str) -> FOTS:
    """A reader with the ``detector`` folder's detector, frozen, and a new ``kind`` recogniser."""
    config = reader.detector_config(detector)
    torch.manual_seed(0)
    model = FOTS(config["backbone"], config["width"], config["hidden"], kind)
    state = torch.load(os.path.join(detector, "model.pt"), map_location="cpu")
    model.load_state_dict({k: v.float() for k, v in state.items() if not k.startswith(reader.RECOGNITION_KEYS)},
                          strict=False)
    for part in DETECTOR_PARTS:
        for p in getattr(model, part).parameters():
            p.requires_grad_(False)
    return model.to(where)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", required=True, help="a line cache (python -m synth.lines), for ``pixels``")
    parser.add_argument("--out", default=os.path.join("results", "ablation"))
    parser.add_argument("--detector", default=reader.DETECTOR)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--minutes", type=float, default=15, help="training minutes of each variant")
    parser.add_argument("--valid", type=int, default=100, help="validation frames of each kind, end to end")
    parser.add_argument("--canvas-batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0)
    training.bf16_option(parser)
    args = parser.parse_args(argv)
    where = training.device()
    for kind in args.variants.split(","):
        out = os.path.join(args.out, kind)
        schedule = training.Schedule(lr=2e-3, minutes=args.minutes, warmup=200, bf16=training.use_bf16(args.bf16),
                                     log_every=50, valid_every=10 ** 9)
        if kind == "pixels":
            recognizer = line_net.LineRecognizer(len(VOCAB) + 1).to(where)
            task = train_lines.LinesTask(args.cache, 64, args.detector, 50, args.workers)
            optimizer = torch.optim.AdamW(recognizer.parameters(), lr=2e-3, weight_decay=1e-4)
            training.fit(task, recognizer, optimizer, out, schedule, where=where)
            model, _ = reader.load(out, where)
            extra = mean_exact(evaluate.validate(model, where, args.valid))
        else:
            model = frozen_reader(kind, args.detector, where)
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3,
                                          weight_decay=1e-4)
            state = training.fit(CanvasTask(kind, args.detector, args.canvas_batch, args.valid, args.workers),
                                 model, optimizer, out, schedule, where=where)
            extra = state["best_valid"]
        print("%s: %s" % (kind, {k: v for k, v in extra.items() if k.endswith("exact")}), file=sys.stderr)
        with open(os.path.join(out, "end-to-end.json"), "w") as f:
            json.dump(extra, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
