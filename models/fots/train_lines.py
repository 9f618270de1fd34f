"""Train the reader's line recogniser (models/fots/lines.py) on line crops, apart from the
detector: each sample is one line (synth/lines.py), not a whole canvas through the
backbone, so a step of 64 lines costs what a step of a few canvases did. The detector's
weights are taken as they are from ``--detector`` and written with the recogniser into one
weights folder that the adapter loads as one model.

    python -m synth.lines --out ~/.cache/ocr-edge-bench/lines/train --count 200000
    python -m models.fots.train_lines --cache ~/.cache/ocr-edge-bench/lines/train --minutes 120 --bf16

Validation (fixed, rendered once per run from codes 5000-5999, never trained on): lines of
the benchmark's generator with a detector's box error (``valid_frames``), of the printing
styles trained on (``valid_styles``), of the held-out family, technique and format
(``valid_held_out``), and printing-style lines binarised black on white as a phone app
leaves them (``valid_binarised``), and pack dates photographed at an angle and straightened
(synth/packs.py, ``valid_packs``). The kept weights are those with the best mean exact
rate over the five (``valid_exact``).
"""
import argparse
import os
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from bench import metrics
from models import training
from models.fots import decode, line_net, lines, reader
from models.fots.net import VOCAB, encode
from synth import printing
from synth import lines as synth_lines

JITTER_X, JITTER_Y = 0.25, 0.1  # a detector's box error: each edge moves by up to this much of the line's height
VALID_START = 5000
GROUPS = ("frames", "styles", "held_out", "binarised", "packs")
CHUNK = 8  # batches drawn together and grouped by width
RELOAD = 100  # blocks of CHUNK batches between two readings of the cache's index


def jittered(box: Tuple[float, float, float, float], rng: np.random.Generator) -> Tuple[float, ...]:
    """The box with each edge moved as a detector's box may be off (now and then by twice as much)."""
    x0, y0, x1, y1 = box
    h = y1 - y0
    reach = 2.0 if rng.random() < 0.1 else 1.0
    dx = rng.uniform(-JITTER_X, JITTER_X, 2) * h * reach
    dy = rng.uniform(-JITTER_Y, JITTER_Y, 2) * h * reach
    return x0 + dx[0], y0 + dy[0], x1 + dx[1], y1 + dy[1]


def view(sample: synth_lines.LineSample, rng: np.random.Generator, augment: bool = True,
         cut: Callable[[np.ndarray, Sequence[float]], np.ndarray] = lines.line_input,
         training: bool = False) -> np.ndarray:
    """One training (or validation) input of a line sample: maybe augmented (in training, with
    marks beside or missing from the print too), its box off as a detector's may be, cut out
    by ``cut`` (a recogniser's own input preparation)."""
    image, box = synth_lines.augment(sample, rng) if augment else (sample.image, sample.box)
    if training:
        image = synth_lines.marks(image, box, rng)
    return cut(image, jittered(box, rng))


def collate(inputs: List[np.ndarray], texts: List[str]):
    x, steps = lines.batch(inputs, multiple=64)
    labels = [encode(t) for t in texts]
    return (torch.from_numpy(x), torch.from_numpy(steps), torch.tensor([c for label in labels for c in label]),
            torch.tensor([len(label) for label in labels]), texts)


def source_weights(found: synth_lines.LineCache, weights: Dict[str, float]) -> Optional[np.ndarray]:
    """Each cached line's chance of being drawn, where ``weights`` weighs the lines of some
    sources (by the first part of their source: ``frames``, ``printing``, ``packs``, ``photo``)
    more or less than the rest (1); None: every line alike."""
    if not weights:
        return None
    p = np.array([weights.get(source.split(":", 1)[0], 1.0) for source in found.sources])
    return p / p.sum()


def weight_option(text: str) -> Tuple[str, float]:
    """``SOURCE=WEIGHT`` of ``--weigh``."""
    source, _, weight = text.partition("=")
    try:
        return source, training.positive(weight)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError("--weigh %s: expected SOURCE=WEIGHT, e.g. frames=2" % text)


class Batches(torch.utils.data.IterableDataset):
    """Endless batches from a line cache: lines drawn at random (seeded by the step; sources
    weighed by ``weights``, ``source_weights``), grouped by width so that little of a batch is
    padding, each seen through ``view``."""

    def __init__(self, cache: str, batch: int, step: int, seed: int = 0, weights: Dict[str, float] = None) -> None:
        self.cache, self.size, self.step, self.seed, self.weights = cache, batch, step, seed, weights or {}

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        k, n = (worker.id, worker.num_workers) if worker else (0, 1)
        chunk = CHUNK
        block = self.step // chunk
        while True:
            if block % RELOAD == 0 or block == self.step // chunk:  # a cache still being written grows
                found = synth_lines.LineCache(self.cache)
                widths = found.widths(lines.HEIGHT)
                chance = source_weights(found, self.weights)
            if block % n == k:
                rng = np.random.default_rng([self.seed, block])
                picked = rng.choice(len(found), self.size * chunk, p=chance) if chance is not None else \
                    rng.integers(0, len(found), self.size * chunk)
                picked = picked[np.argsort(widths[picked])]
                for b in rng.permutation(chunk):
                    ids = picked[b * self.size:(b + 1) * self.size]
                    samples = [found[int(i)] for i in ids]
                    yield collate([view(s, rng, training=True) for s in samples], [s.text for s in samples])
            block += 1


def valid_lines(count: int, cut: Callable[[np.ndarray, Sequence[float]], np.ndarray] = lines.line_input
                ) -> Dict[str, List[Tuple[np.ndarray, str]]]:
    """The fixed validation inputs of each group (``count`` lines each), with their texts,
    cut out by ``cut``."""
    out: Dict[str, List[Tuple[np.ndarray, str]]] = {}
    for group in GROUPS:
        rng = np.random.default_rng([VALID_START, GROUPS.index(group)])
        items: List[Tuple[np.ndarray, str]] = []
        index = VALID_START
        while len(items) < count:
            held = sorted(printing.HELD_OUT)[index % 3] if group == "held_out" else None
            for sample in synth_lines.line_samples(index, styles=0.0 if group == "frames" else 1.0, held_out=held,
                                                   pack_lines=1.0 if group == "packs" else 0.0):
                if group == "binarised":
                    image = synth_lines.binarised(sample.image, sample.box, rng)
                    items.append((cut(image, jittered(sample.box, rng)), sample.text))
                else:
                    items.append((view(sample, rng, group != "frames", cut), sample.text))
            index += 1
        out[group] = items[:count]
    return out


def read(model: torch.nn.Module, inputs: List[np.ndarray], device: str, size: int = 64) -> List[str]:
    """Greedy CTC readings of line inputs, each decoded over its own steps only."""
    out = []
    for i in range(0, len(inputs), size):
        x, steps = lines.batch(inputs[i:i + size])
        log_probs = model(torch.from_numpy(x).to(device)).float().cpu().numpy()
        out += [decode.ctc_greedy(log_probs[:n, j:j + 1])[0][0] for j, n in enumerate(steps)]
    return out


class LinesTask(training.Task):
    def __init__(self, cache: str, batch: int, detector: str, valid: int, workers: int, seed: int = 0,
                 weights: Dict[str, float] = None) -> None:
        self.cache, self.batch_size, self.detector, self.workers, self.seed = cache, batch, detector, workers, seed
        self.weights = weights or {}
        self.valid = valid_lines(valid)

    def batches(self, step: int) -> Iterator[Any]:
        return self.loaded(Batches(self.cache, self.batch_size, step, self.seed, self.weights))

    def loaded(self, source: torch.utils.data.IterableDataset) -> Iterator[Any]:
        """Batches of an endless ``source`` of batches, made by ``workers`` processes."""
        return iter(torch.utils.data.DataLoader(source, batch_size=None, num_workers=self.workers,
                                                prefetch_factor=4 if self.workers else None))

    def size(self, batch: Any) -> int:
        return int(batch[0].shape[0])

    def loss(self, model, batch, device: str) -> Dict[str, torch.Tensor]:
        x, steps, labels, lengths, _ = batch
        log_probs = model(x.to(device, memory_format=torch.channels_last)).float()
        loss = F.ctc_loss(log_probs, labels, steps, lengths, blank=0, zero_infinity=True)
        return {"loss": loss}

    def validate(self, model, device: str) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        examples = []
        for group, items in self.valid.items():
            readings = read(model, [x for x, _ in items], device)
            truths = [t for _, t in items]
            scores = metrics.corpus([metrics.counts(metrics.normalize(r), metrics.normalize(t))
                                     for r, t in zip(readings, truths)])
            out["valid_%s_exact" % group] = round(scores["strict_acc"], 4)
            out["valid_%s_cer" % group] = round(scores["cer"], 4)
            examples += ["%s | %s" % (t, r) for t, r in zip(truths, readings) if metrics.normalize(r) !=
                         metrics.normalize(t)][:2]
        out["valid_exact"] = round(float(np.mean([out["valid_%s_exact" % g] for g in GROUPS])), 4)
        out["examples"] = examples
        return out

    def save(self, model, folder: str) -> None:
        reader.save_with_detector(model, self.detector, folder)

    def finish(self, folder: str) -> None:
        from models.fots.export import write_graphs

        write_graphs(folder)

    def validation_id(self) -> str:
        return training.digest(self.valid)

    def settings(self) -> Dict[str, Any]:
        return dict(reader.detector_config(self.detector), recognizer="pixels",
                    lines={"height": lines.HEIGHT, "channels": list(lines.CHANNELS), "hidden": 128,
                           "cache": os.path.abspath(self.cache), "batch": self.batch_size, "weigh": self.weights,
                           "valid_lines_per_group": len(self.valid["frames"])},
                    detector_from=os.path.abspath(self.detector))


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", required=True, help="a line cache (python -m synth.lines)")
    parser.add_argument("--out", default=reader.WEIGHTS, help="weights folder (default: %(default)s)")
    parser.add_argument("--detector", default=reader.DETECTOR,
                        help="weights folder whose detector the reader keeps (default: %(default)s)")
    parser.add_argument("--batch", type=training.count, default=64)
    parser.add_argument("--lr", type=training.positive, default=2e-3)
    parser.add_argument("--minutes", type=training.positive, default=60)
    parser.add_argument("--steps", type=training.count, default=None)
    parser.add_argument("--valid", type=training.count, default=300, help="validation lines per group")
    parser.add_argument("--valid-every", type=training.count, default=1000)
    parser.add_argument("--log-every", type=training.count, default=100)
    parser.add_argument("--workers", type=training.count0, default=1, help="processes making batches")
    parser.add_argument("--weigh", type=weight_option, action="append", default=[], metavar="SOURCE=WEIGHT",
                        help="draw the cache's lines of a source (frames, printing, packs) this many times as often "
                             "as the rest; repeatable")
    training.bf16_option(parser)
    parser.add_argument("--resume", action="store_true",
                        help="continue from <out>/checkpoint.pt, or on another machine from the recogniser in "
                             "<out>/model.pt with a fresh optimiser")
    args = parser.parse_args(argv)
    where = training.device()
    torch.manual_seed(0)
    model = line_net.LineRecognizer(len(VOCAB) + 1).to(where, memory_format=torch.channels_last)  # faster convolutions
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    task = LinesTask(args.cache, args.batch, args.detector, args.valid, args.workers, weights=dict(args.weigh))
    schedule = training.Schedule(lr=args.lr, minutes=args.minutes, steps=args.steps,
                                 warmup=200, bf16=training.use_bf16(args.bf16),
                                 log_every=args.log_every, valid_every=args.valid_every)
    begin = None
    if args.resume and not os.path.isfile(os.path.join(args.out, "checkpoint.pt")) and \
            os.path.isfile(os.path.join(args.out, "model.pt")):  # committed weights, no optimiser
        committed, config = reader.load(args.out, where)
        model.load_state_dict(committed.lines.state_dict())
        begin = training.begin_from(config)
    training.fit(task, model, optimizer, args.out, schedule, resume=args.resume, begin=begin, where=where)


if __name__ == "__main__":
    sys.exit(main())
