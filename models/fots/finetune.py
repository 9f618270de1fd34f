"""Fine-tune the reader's line recogniser on a user's own annotated photos
(models/fots/annotated.py says how to annotate), from the committed reader or named weights,
with generated lines mixed into every batch so that it keeps what it knew. The detector is
kept as it is. Uses the GPU when there is one.

    make train-fots DATASET=path/to/photos MINUTES=20
    python -m models.fots.finetune path/to/photos --minutes 20 [--from WEIGHTS] [--out FOLDER]

The photos' ``split: test`` rows (or, without any, every tenth image) are never trained on;
each validation reads them end to end, detector and recogniser (``valid_user_exact``,
``valid_user_cer`` in ``train.log`` and ``config.json``), beside generated validation lines;
the weights kept are those with the best mean of the two exact rates (the held-out photos',
and the generated lines', so that the reader keeps what it knew). The weights folder (default
``results/fots-weights/<dataset>``) holds ``model.pt`` and a ``config.json`` with the data's
manifest and its sha256, the weights it started from, the command and the steps. Run again
into the same folder, it continues that run (``--resume`` or not); a folder that holds a run
on another manifest is refused. A suite names the folder to benchmark it beside the
committed reader:

    engines:
      fots-mine: {adapter: "adapters.fots:Adapter", modes: [cpu], options: {weights: results/fots-weights/photos}}
"""
import argparse
import json
import os
import sys
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import torch

from bench import metrics
from models import training
from models.fots import annotated, data, reader, train_lines
from synth import lines as synth_lines
from synth.printing import camera


class PhotoTask(train_lines.LinesTask):
    """The line recogniser's task on a user's photos: batches mixing their lines with
    generated ones, validation on the held-out photos end to end."""

    def __init__(self, photos: annotated.Annotated, detector: str, cache: Optional[str], generated: float,
                 batch: int, valid: int, workers: int, weights: Dict[str, float] = None) -> None:
        super().__init__(cache or "", batch, detector, valid, workers, seed=1, weights=weights)
        self.photos, self.generated = photos, generated
        self.photo_lines = [line for photo in photos.train for line in annotated.lines(photo)]
        self.reader, _ = reader.load(detector, training.device())

    def batches(self, step: int) -> Iterator[Any]:
        return self.loaded(Mixed(self.photo_lines, self.cache, self.batch_size, self.generated, step, self.weights))

    def validate(self, model, device: str) -> Dict[str, Any]:
        out = super().validate(model, device)
        out.update(read_photos(self.reader, model, device, self.photos.test))
        out["valid_generated_exact"] = out.pop("valid_exact")
        # kept: the weights that read the held-out photos and the generated lines best together (so that a
        # reader fitted to a few photos does not forget the rest); ties: the lower CER on the photos
        out["valid_exact"] = round((out["valid_user_exact"] + out["valid_generated_exact"]) / 2
                                   - 0.01 * out["valid_user_cer"], 5)
        return out

    def settings(self) -> Dict[str, Any]:
        return dict(super().settings(), dataset=self.photos.about, generated=self.generated)


class Mixed(torch.utils.data.IterableDataset):
    """Endless batches: each line a generated one with probability ``generated`` (from a line
    cache, or rendered here without one), else a training photo's line, freshly cut and lit;
    ``train_lines.CHUNK`` batches drawn at a time and grouped by width, so that a batch is
    not padded to its widest line's width (a code's long line beside a short one)."""

    def __init__(self, photo_lines: List[synth_lines.LineSample], cache: str, batch: int, generated: float,
                 step: int, weights: Dict[str, float] = None) -> None:
        self.photo_lines, self.cache, self.size, self.generated, self.step = photo_lines, cache, batch, generated, step
        self.weights = weights or {}

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        k, n = (worker.id, worker.num_workers) if worker else (0, 1)
        found = synth_lines.LineCache(self.cache) if self.cache else None
        chance = train_lines.source_weights(found, self.weights) if found is not None else None
        block = self.step // train_lines.CHUNK
        while True:
            if block % n == k:  # CHUNK batches drawn together, grouped by width so that little of each is padding
                rng = np.random.default_rng([2, block])
                samples = [self._draw(rng, found, chance) for _ in range(self.size * train_lines.CHUNK)]
                inputs = [train_lines.view(s, rng, training=True) for s in samples]
                order = np.argsort([x.shape[1] for x in inputs], kind="stable")
                for b in rng.permutation(train_lines.CHUNK):
                    ids = order[b * self.size:(b + 1) * self.size]
                    yield train_lines.collate([inputs[i] for i in ids], [samples[i].text for i in ids])
            block += 1

    def _draw(self, rng: np.random.Generator, found: Optional[synth_lines.LineCache],
              chance: Optional[np.ndarray]) -> synth_lines.LineSample:
        if rng.random() < self.generated:
            if found is not None:
                return found[int(rng.choice(len(found), p=chance) if chance is not None else rng.integers(len(found)))]
            made = synth_lines.line_samples(int(rng.integers(data.TRAIN_START, 10 ** 9)))
            return made[int(rng.integers(len(made)))]
        line = self.photo_lines[int(rng.integers(len(self.photo_lines)))]
        if rng.random() < 0.5:  # light, blur, noise, JPEG: as another camera would take it
            line = line._replace(image=camera(rng, line.image.astype(np.float32) / 255.0))
        return line


def read_photos(fots, recognizer, device: str, photos: List[annotated.Photo]) -> Dict[str, float]:
    """The held-out photos read end to end by the reader ``fots`` with ``recognizer`` as its
    line recogniser (each photo cropped around its lines): exact codes and CER of the lines
    joined top to bottom."""
    fots.lines = recognizer
    backend = reader.TorchBackend(fots, device)
    counts = []
    for photo in photos:
        gray, _ = annotated.crop(photo)
        found = reader.read(backend, [data.for_reading(gray)])[0]
        text = " ".join(text for _, text, _ in sorted(found, key=lambda line: (line[0][1] + line[0][3]) / 2))
        counts.append(metrics.counts(metrics.normalize(text), metrics.normalize(" ".join(t for _, t in photo.lines))))
    scores = metrics.corpus(counts)
    return {"valid_user_exact": round(scores["strict_acc"], 4), "valid_user_cer": round(scores["cer"], 4),
            "valid_user_n": len(photos)}


def _mapping(pairs: List[str]) -> Dict[str, str]:
    out = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or len(source) != 1:
            raise annotated.AnnotationError("--map %s: expected one character, '=', and what it becomes (or nothing "
                                            "to drop it), e.g. --map a=A" % pair)
        out[source] = target
    return out


def _same_data(out: str, about: Dict[str, Any]) -> Optional[str]:
    """Why ``out`` cannot take this run (it holds one on another manifest), or None."""
    config = training.read_config(out)
    if config is None:
        return None
    trained_on = (config.get("dataset") or {}).get("manifest_sha256")
    if trained_on == about["manifest_sha256"]:
        return None
    return ("%s holds a fine-tuning run on another manifest (sha256 %s..., this one %s...); give another --out"
            % (out, (trained_on or "?")[:12], about["manifest_sha256"][:12]))


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", help="a folder with manifest.csv, or a manifest: one row per text line with its box")
    parser.add_argument("--from", dest="initial", default=reader.WEIGHTS,
                        help="reader weights to start from (default: the committed reader, %(default)s)")
    parser.add_argument("--out", default=None,
                        help="weights folder (default: results/fots-weights/<the dataset's folder name>)")
    parser.add_argument("--cache", default=None, help="a line cache (python -m synth.lines) for the generated lines; "
                                                      "without one they are rendered as training goes")
    parser.add_argument("--generated", type=training.share, default=0.5,
                        help="share of each batch from the generators, so that the reader keeps what it knew")
    parser.add_argument("--weigh", type=train_lines.weight_option, action="append", default=[],
                        metavar="SOURCE=WEIGHT", help="draw the cache's lines of a source (frames, printing, packs) "
                                                      "this many times as often as the rest; repeatable")
    parser.add_argument("--map", action="append", default=[], metavar="C=R",
                        help="read character C in the annotations as R (R empty: drop C); repeatable")
    parser.add_argument("--drop-unknown", action="store_true",
                        help="drop characters outside the reader's vocabulary instead of refusing the set")
    parser.add_argument("--batch", type=training.count, default=32)
    parser.add_argument("--lr", type=training.positive, default=3e-4)
    parser.add_argument("--minutes", type=training.positive, default=20)
    parser.add_argument("--steps", type=training.count, default=None, help="or stop at this step")
    parser.add_argument("--valid-every", type=training.count, default=100)
    parser.add_argument("--log-every", type=training.count, default=20)
    parser.add_argument("--valid", type=training.count, default=50, help="generated validation lines per group")
    parser.add_argument("--workers", type=training.count0, default=1)
    training.bf16_option(parser)
    parser.add_argument("--resume", action="store_true", help="accepted for clarity: a run into the same folder on "
                                                              "the same manifest always continues")
    args = parser.parse_args(argv)
    try:
        photos = annotated.load(args.dataset, _mapping(args.map), args.drop_unknown)
        with open(os.path.join(args.initial, "config.json")) as f:
            origin = json.load(f)
        if origin.get("recognizer", "features") != "pixels":
            raise annotated.AnnotationError(
                "--from %s: fine-tuning trains the line recogniser, and these weights read from the detector's "
                "features (%s); start from a reader with a line recogniser, e.g. %s"
                % (args.initial, origin.get("recognizer", "features"), reader.WEIGHTS))
    except (annotated.AnnotationError, OSError, ValueError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    name = os.path.basename(os.path.dirname(os.path.abspath(photos.about["manifest"])))
    out = args.out or os.path.join("results", "fots-weights", name)
    try:
        training.check_out(out)
        refused = _same_data(out, photos.about)
    except training.TrainingError as exc:
        refused = str(exc)
    if refused:
        print("error: %s" % refused, file=sys.stderr)
        return 2
    where = training.device()
    model, _ = reader.load(args.initial, where)
    recognizer = model.lines.train().to(memory_format=torch.channels_last)  # faster convolutions
    optimizer = torch.optim.AdamW(recognizer.parameters(), lr=args.lr, weight_decay=1e-4)
    again = os.path.isfile(os.path.join(out, "checkpoint.pt"))
    print("%s %s (recogniser %d steps) on %d photos, %d held out (%s), into %s"
          % ("continuing the fine-tuning of" if again else "fine-tuning", args.initial, origin["steps"],
             photos.about["train_images"], photos.about["test_images"], photos.about["held_out"], out), file=sys.stderr)
    task = PhotoTask(photos, args.initial, args.cache, args.generated, args.batch, args.valid, args.workers,
                     dict(args.weigh))
    schedule = training.Schedule(lr=args.lr, minutes=args.minutes, steps=args.steps,
                                 warmup=20, bf16=training.use_bf16(args.bf16),
                                 log_every=args.log_every, valid_every=args.valid_every)
    extra = {"fine_tuned_from": {"weights": os.path.abspath(args.initial), "steps": origin["steps"]}}
    try:
        training.fit(task, recognizer, optimizer, out, schedule, resume=again, extra=extra, where=where)
    except training.TrainingError as exc:  # another run holds the folder
        print("error: %s" % exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
