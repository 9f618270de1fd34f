"""Fine-tuning a general engine's line recogniser on printed code lines: what EasyOCR's
(models/easyocr_codes/) and PP-OCRv6's (models/ppocrv6_codes/) fine-tuning share. An engine
supplies a ``Recogniser``: how its network is loaded and written, how it cuts and batches a
line, its character list. This module supplies the rest: batches of generated lines from the
line cache (synth/lines.py, shared with our reader's training) mixed with a user's own
annotated photos when given (the manifest format of ``make train-fots DATASET=``), the CTC
loss, validation (the reader's fixed validation lines, models/fots/train_lines.py, and the
photos held out), the command line, and bad input refused with exit status 2; the loop
itself is models/training.py's.
"""
import argparse
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from bench import metrics
from models import training
from models.fots import annotated, finetune as fots_finetune, train_lines
from synth import lines as synth_lines


class Recogniser:
    """One engine's recogniser as fine-tuning sees it. ``chars``: class i + 1 is character i
    (class 0 the CTC blank); ``network``: what ``make`` and the adapter call the written files."""

    name = ""  # the engine's name for what this writes (e.g. easyocr-codes)
    network = ""  # the written network's file name, without extension
    origin = ""  # the weights fine-tuning starts from, in words
    height = 32
    chars = ""
    weights = ""  # the committed network's folder

    def load(self, path: Optional[str] = None) -> torch.nn.Module:
        """The pretrained network, or the one written at ``path`` (a folder of ``write``),
        in float32, trainable."""
        raise NotImplementedError

    def written(self, folder: str) -> bool:
        """Whether ``folder`` holds a network ``write`` wrote."""
        raise NotImplementedError

    def write(self, model: torch.nn.Module, folder: str) -> None:
        """The network as the engine itself loads it."""
        raise NotImplementedError

    def line_input(self, gray: np.ndarray, box: Sequence[float]) -> np.ndarray:
        """A line (``box``: x0, y0, x1, y1 in ``gray``'s pixels) as the engine's pipeline
        feeds it to its recogniser, one channel, ``height`` rows."""
        raise NotImplementedError

    def batch(self, inputs: List[np.ndarray], multiple: int = 1) -> Tuple[np.ndarray, np.ndarray]:
        """(N, C, height, W) as the engine pads a batch, and the CTC steps of each line;
        ``multiple``: W rounded up to a multiple of it (training: fewer distinct shapes)."""
        raise NotImplementedError

    def logits(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """(N, T, classes) scores of a batch."""
        return model(x)

    def settings(self) -> Dict[str, Any]:
        return {}


def region(gray: np.ndarray, box: Sequence[float], context_x: float, context_y: float) -> np.ndarray:
    """The pixels of a line's box (x0, y0, x1, y1) with ``context_*`` line heights around it,
    the image's edge repeated where the box passes it."""
    import cv2

    x0, y0, x1, y1 = (float(v) for v in box)
    h = max(2.0, y1 - y0)
    c0, r0 = int(np.floor(x0 - context_x * h)), int(np.floor(y0 - context_y * h))
    c1, r1 = int(np.ceil(x1 + context_x * h)), int(np.ceil(y1 + context_y * h))
    ih, iw = gray.shape
    out = gray[max(0, r0):max(0, min(ih, r1)), max(0, c0):max(0, min(iw, c1))]
    if out.size == 0:
        out = np.full((1, 1), 255, np.uint8)
    return cv2.copyMakeBorder(out, max(0, -r0), max(0, r1 - ih), max(0, -c0), max(0, c1 - iw), cv2.BORDER_REPLICATE)


def encode(text: str, chars: str) -> List[int]:
    return [chars.index(c) + 1 for c in text]


def greedy(logits: np.ndarray, steps: np.ndarray, chars: str) -> List[str]:
    """(N, T, classes) -> each line's best path over its steps, repeats collapsed, blanks dropped."""
    out = []
    for row, n in zip(logits.argmax(-1), steps):
        row = row[:n]
        out.append("".join(chars[c - 1] for i, c in enumerate(row) if c and (i == 0 or c != row[i - 1])))
    return out


class Lines(torch.utils.data.IterableDataset):
    """Endless batches: generated lines from the cache, and a user's photo lines with
    probability ``photos`` (when given), grouped by width."""

    def __init__(self, recogniser: Recogniser, cache: str, photo_lines: List[synth_lines.LineSample],
                 photos: float, size: int, step: int) -> None:
        self.recogniser, self.cache, self.photo_lines, self.photos = recogniser, cache, photo_lines, photos
        self.size, self.step = size, step

    def __iter__(self):
        rec = self.recogniser
        chunk, block = 8, self.step // 8
        while True:
            if block % train_lines.RELOAD == 0 or block == self.step // 8:  # a cache still being written grows
                found = synth_lines.LineCache(self.cache)
                widths = found.widths(rec.height)
            rng = np.random.default_rng([3, block])
            picked = rng.integers(0, len(found), self.size * chunk)
            picked = picked[np.argsort(widths[picked])]
            for b in rng.permutation(chunk):
                samples = [found[int(i)] for i in picked[b * self.size:(b + 1) * self.size]]
                if self.photo_lines:
                    samples = [self.photo_lines[int(rng.integers(len(self.photo_lines)))] if rng.random() < self.photos
                               else s for s in samples]
                x, steps = rec.batch([train_lines.view(s, rng, cut=rec.line_input, training=True) for s in samples],
                                     multiple=32)
                labels = [encode(s.text, rec.chars) for s in samples]
                yield (torch.from_numpy(x), torch.from_numpy(steps), torch.tensor([c for la in labels for c in la]),
                       torch.tensor([len(la) for la in labels]))
            block += 1


class CodesTask(training.Task):
    def __init__(self, recogniser: Recogniser, cache: str, batch_size: int, valid: int,
                 photos: Optional[annotated.Annotated], photo_share: float, workers: int) -> None:
        self.rec, self.cache, self.batch_size, self.workers = recogniser, cache, batch_size, workers
        self.photos, self.photo_share = photos, photo_share
        self.photo_lines = [line for p in photos.train for line in annotated.lines(p)] if photos else []
        self.valid = train_lines.valid_lines(valid, cut=recogniser.line_input)
        if photos:
            self.valid["photos"] = [(recogniser.line_input(line.image, line.box), line.text)
                                    for p in photos.test for line in annotated.lines(p)]

    def batches(self, step: int) -> Iterator[Any]:
        source = Lines(self.rec, self.cache, self.photo_lines, self.photo_share, self.batch_size, step)
        return iter(torch.utils.data.DataLoader(source, batch_size=None, num_workers=self.workers,
                                                prefetch_factor=4 if self.workers else None))

    def size(self, batch: Any) -> int:
        return int(batch[0].shape[0])

    def loss(self, model, batch, device: str) -> Dict[str, torch.Tensor]:
        x, steps, labels, lengths = batch
        log_probs = F.log_softmax(self.rec.logits(model, x.to(device)).float(), -1).permute(1, 0, 2)
        return {"loss": F.ctc_loss(log_probs, labels, steps, lengths, blank=0, zero_infinity=True)}

    def read_batches(self, inputs: List[np.ndarray]) -> Iterator[Tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Batches of up to 32 lines of similar width, as engines batch the lines of an image
        (the widths sorted, so a line is padded little): the lines' places, the batch, its steps."""
        order = np.argsort([x.shape[1] for x in inputs], kind="stable")
        for i in range(0, len(inputs), 32):
            x, steps = self.rec.batch([inputs[k] for k in order[i:i + 32]])
            yield order[i:i + 32], x, steps

    def read(self, model, inputs: List[np.ndarray], device: str) -> List[str]:
        out = [""] * len(inputs)
        for places, x, steps in self.read_batches(inputs):
            logits = self.rec.logits(model, torch.from_numpy(x).to(device)).float().cpu().numpy()
            for k, text in zip(places, greedy(logits, steps, self.rec.chars)):
                out[k] = text
        return out

    def validate(self, model, device: str) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        examples = []
        for group, items in self.valid.items():
            readings = self.read(model, [x for x, _ in items], device)
            truths = [t for _, t in items]
            scores = metrics.corpus([metrics.counts(metrics.normalize(r), metrics.normalize(t))
                                     for r, t in zip(readings, truths)])
            out["valid_%s_exact" % group] = round(scores["strict_acc"], 4)
            out["valid_%s_cer" % group] = round(scores["cer"], 4)
            examples += ["%s | %s" % (t, r) for t, r in zip(truths, readings)
                         if metrics.normalize(r) != metrics.normalize(t)][:2]
        groups = ["photos"] if self.photos else list(train_lines.GROUPS)
        out["valid_exact"] = round(float(np.mean([out["valid_%s_exact" % g] for g in groups])), 4)
        out["examples"] = examples
        return out

    def save(self, model, folder: str) -> None:
        self.rec.write(model, folder)

    def validation_id(self) -> str:
        """The validation lines as the network is fed them (batches and steps), so that a change
        in how an engine pads or decodes has the starting weights validated again."""
        return training.digest({group: [(x, "%s" % steps.tolist()) for _, x, steps in
                                        self.read_batches([x for x, _ in items])] + items
                                for group, items in self.valid.items()})

    def settings(self) -> Dict[str, Any]:
        return dict(self.rec.settings(), network=self.rec.network, **{"from": self.rec.origin},
                    height=self.rec.height, cache=os.path.abspath(self.cache), batch=self.batch_size,
                    dataset=self.photos.about if self.photos else None,
                    photo_share=self.photo_share if self.photos else 0.0,
                    valid_lines_per_group=len(self.valid["frames"]))


def main(recogniser: Recogniser, argv: Optional[List[str]] = None, description: str = "", lr: float = 1e-4) -> int:
    """The command line of an engine's fine-tuning (``make finetune-<engine>``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cache", required=True, help="a line cache (python -m synth.lines)")
    parser.add_argument("--dataset", help="a user's annotated photos (one row per line with its box), mixed in")
    parser.add_argument("--photos", type=training.share, default=0.5, help="share of each batch from the photos, with --dataset")
    parser.add_argument("--out", default=None, help="network folder (default: %s, or results/%s/<dataset> with "
                                                   "--dataset)" % (os.path.relpath(recogniser.weights), recogniser.name))
    parser.add_argument("--batch", type=training.count, default=32)
    parser.add_argument("--lr", type=training.positive, default=lr)
    parser.add_argument("--minutes", type=training.positive, default=60)
    parser.add_argument("--steps", type=training.count, default=None)
    parser.add_argument("--valid", type=training.count, default=200, help="validation lines per group")
    parser.add_argument("--valid-every", type=training.count, default=500)
    parser.add_argument("--log-every", type=training.count, default=50)
    parser.add_argument("--workers", type=training.count0, default=0)
    training.bf16_option(parser)
    args = parser.parse_args(argv)
    photos = None
    try:
        if args.dataset:
            photos = annotated.load(args.dataset, vocab=recogniser.chars,
                                    advice="change those labels, or fine-tune our own reader instead (make "
                                           "train-fots DATASET=..., which offers --map and --drop-unknown)")
        out = args.out or (os.path.join("results", recogniser.name, os.path.basename(os.path.dirname(
            os.path.abspath(photos.about["manifest"])))) if photos else recogniser.weights)
        training.check_out(out)
        refused = fots_finetune._same_data(out, photos.about) if photos else None
        if refused:
            raise annotated.AnnotationError(refused)
        synth_lines.LineCache(args.cache)
    except (annotated.AnnotationError, training.TrainingError, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    where = training.device()
    again = os.path.isfile(os.path.join(out, "checkpoint.pt"))
    begin = None
    config = training.read_config(out) if not again and recogniser.written(out) else None
    if config is not None:  # a network written here, without its checkpoint (committed weights on another
        begin = training.begin_from(config)  # machine): continue from it
        print("continuing %s from its network (%d steps), with a fresh optimiser" % (out, begin["step"]),
              file=sys.stderr)
    model = recogniser.load(out if begin else None).to(where)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=1e-4)
    task = CodesTask(recogniser, args.cache, args.batch, args.valid, photos, args.photos, args.workers)
    schedule = training.Schedule(lr=args.lr, minutes=args.minutes, steps=args.steps,
                                 warmup=100, bf16=training.use_bf16(args.bf16),
                                 log_every=args.log_every, valid_every=args.valid_every)
    try:
        training.fit(task, model, optimizer, out, schedule, resume=again, begin=begin, where=where)
    except training.TrainingError as exc:  # another run holds the folder
        print("error: %s" % exc, file=sys.stderr)
        return 2
    return 0
