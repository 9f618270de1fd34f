"""How well trained weights read held-out frames (validation indices 5000...), end to end,
and with recognition given the true line boxes instead of the detected ones: the gap
between the two is what detection costs.

    python -m models.fots.evaluate models/fots/weights/fots-b0 --frames 200
    python -m models.fots.evaluate models/fots/weights/fots-b0 --styles 300

``--frames``: the benchmark's generator, one JSON line per group of codes (PRO/EXP lines,
the others, all). ``--styles``: the printing-style generator (synth/printing.py), a
markdown table per family, technique, surface and format of the trained styles, and one row
for each part held out of training (a family, a technique, a format), each read on as many
frames. Training calls ``validate`` at each save, on fewer frames.
"""
import argparse
import json
from collections import defaultdict
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch

from bench import metrics
from models.fots import data, decode, reader
from synth import printing


def read_sample(backend, sample: data.TrainingSample) -> Tuple[str, str]:
    """The text read from a frame, its lines top to bottom: through the detected boxes, and
    through the true ones on the same features (the line recogniser reading the canvas's
    own pixels)."""
    canvas = data.to_canvas((sample.image * 255).astype(np.uint8))
    (found,), feats, _ = reader.detect(backend, [canvas])

    def text(boxes) -> str:
        boxes = sorted(boxes, key=lambda b: (b[1] + b[3]) / 2)
        rois = np.array([[0.0] + list(box) for box in boxes], np.float32).reshape(-1, 5)
        log_probs = reader.recognize(backend, [canvas], [[(box, 1.0) for box in boxes]], feats, rois)
        return metrics.normalize("".join(decode.ctc_greedy(lp[:, None])[0][0] for lp in log_probs))

    return text([box for box, _ in found]), text(sample.boxes)


def truth(sample: data.TrainingSample) -> str:
    return metrics.normalize(" ".join(sample.texts))


def frames(count: int, styles: float = 0.0, held_out: Optional[str] = None) -> Iterable[data.TrainingSample]:
    """The first ``count`` validation frames: the benchmark's generator (``styles`` 0), the
    printing-style generator in trained styles (1), or in a ``held_out`` part."""
    return (data.training_sample(data.VALID_START + i, styles=styles, held_out=held_out) for i in range(count))


def exact_cer(backend, samples: Iterable[data.TrainingSample]) -> Tuple[float, float]:
    scores = metrics.corpus([metrics.counts(read_sample(backend, s)[0], truth(s)) for s in samples])
    return scores["strict_acc"], scores["cer"]


def validate(model, device: str, count: int = 64) -> dict:
    """End to end on the first ``count`` validation frames of the benchmark's generator, of
    the printing styles trained on, and of the held-out ones (family, technique and format
    in turn): exact codes, CER."""
    model.eval()
    backend = reader.TorchBackend(model, device)
    out = {}
    for name, samples in (("valid", frames(count)), ("valid_styles", frames(count, 1.0)),
                          ("valid_held_out", (data.training_sample(data.VALID_START + i, styles=1.0,
                                                                   held_out=sorted(printing.HELD_OUT)[i % 3])
                                              for i in range(count)))):
        exact, cer = exact_cer(backend, samples)
        out.update({name + "_exact": exact, name + "_cer": cer})
    out["valid_n"] = count
    model.train()
    return out


def by_codes(backend, count: int, about: dict) -> None:
    """One JSON line per group of codes of the benchmark's generator, each with ``about``."""
    groups: Dict[str, list] = {"PRO/EXP": [], "other": []}
    for sample in frames(count):
        gt = truth(sample)
        counts = [metrics.counts(read, gt) for read in read_sample(backend, sample)]
        groups["PRO/EXP" if gt.startswith("PRO:") else "other"].append(counts)
    groups["all"] = groups["PRO/EXP"] + groups["other"]
    for name, rows in groups.items():
        detected, true = (metrics.corpus([row[k] for row in rows]) for k in (0, 1))
        print(json.dumps(dict(about, codes=name, frames=len(rows),
                              exact=round(detected["strict_acc"], 4), cer=round(detected["cer"], 4),
                              exact_true_boxes=round(true["strict_acc"], 4), cer_true_boxes=round(true["cer"], 4))))


def by_style(backend, count: int) -> List[str]:
    """Markdown rows: each trained family, technique, surface and format, then each held-out
    part, exact % and CER % end to end."""
    groups: Dict[Tuple[str, str], list] = defaultdict(list)
    for sample in frames(count, 1.0):
        counts = metrics.counts(read_sample(backend, sample)[0], truth(sample))
        for part in ("family", "technique", "surface", "format"):
            groups[(part, getattr(sample.style, part))].append(counts)
        groups[("all trained styles", "")].append(counts)
    for part in sorted(printing.HELD_OUT):
        groups[("held out: " + part, printing.HELD_OUT[part])] = [
            metrics.counts(read_sample(backend, s)[0], truth(s)) for s in frames(count, 1.0, part)]
    rows = ["| part | value | frames | exact % | CER % |", "| --- | --- | --- | --- | --- |"]
    for (part, value), counts in sorted(groups.items(), key=lambda g: (g[0][0].startswith("held"), g[0])):
        scores = metrics.corpus(counts)
        rows.append("| %s | %s | %d | %.1f | %.1f |" % (part, value, len(counts), 100 * scores["strict_acc"],
                                                        100 * scores["cer"]))
    return rows


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="?", default=reader.WEIGHTS, help="a folder with model.pt and config.json")
    parser.add_argument("--frames", type=int, default=200, help="validation frames of the benchmark's generator")
    parser.add_argument("--styles", type=int, default=0,
                        help="instead: validation frames of the printing styles, as many again per held-out part")
    args = parser.parse_args(argv)
    if not 0 < args.frames <= data.VALID_FRAMES or not 0 <= args.styles <= data.VALID_FRAMES:
        parser.error("--frames must be from 1 to %d and --styles from 0 to %d (the validation frames)"
                     % (data.VALID_FRAMES, data.VALID_FRAMES))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, config = reader.load(args.weights, device)
    backend = reader.TorchBackend(model, device)
    if args.styles:
        print("weights %s, %d steps\n" % (args.weights, config["steps"]))
        print("\n".join(by_style(backend, args.styles)))
    else:
        by_codes(backend, args.frames, {"weights": args.weights, "steps": config["steps"]})


if __name__ == "__main__":
    main()
