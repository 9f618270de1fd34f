"""Photos labelled by region and code only (the benchmark's manifest: one row per photo, the
box around the code's region, the text the code) made into the line-per-row annotation that
fine-tuning takes (models/fots/annotated.py), by the reader itself:

    python -m models.fots.line_labels datasets/real-useby/train --out results/real-useby-lines
    make train-fots DATASET=results/real-useby-lines MINUTES=20

Each region is turned upright as the reader turns it (models/fots/orient.py) and written as
an image of its own; the reader finds its lines, and the line whose reading is nearest the
label (character error rate at most ``MAX_CER``) is annotated with the label. A region whose
label is only part of what it shows (a date under "Use by", a time code under it) gets the
label on the one line that carries it, and its other lines are left out, not guessed. A
region where no line comes near its label is left out and named on standard error, for a
person to annotate; rows marked ``split: test`` stay held out. Labels are upper-cased (the
reader's alphabet has no lower case).
"""
import argparse
import os
import sys
from typing import List, Optional

import cv2

from bench import metrics
from bench.dataset import ManifestError, read_manifest
from models.fots import annotated, data, orient, reader

MAX_CER = 0.5


def nearest_line(found, label: str) -> Optional[tuple]:
    """The (box, text, confidence) of ``found`` whose reading is nearest ``label``, if its
    character error rate is at most MAX_CER."""
    best, best_cer = None, MAX_CER
    for line in found:
        cer = metrics.corpus([metrics.counts(metrics.normalize(line[1]), metrics.normalize(label))])["cer"]
        if cer <= best_cer:
            best, best_cer = line, cer
    return best


def label_lines(location: str, out: str, weights: str = reader.WEIGHTS) -> List[str]:
    """Writes ``out/img/*.png`` (each region upright) and ``out/manifest.csv`` (the labelled
    line of each); returns the rows left out, as messages."""
    manifest = os.path.join(location, "manifest.csv") if os.path.isdir(location) else location
    model, _ = reader.load(weights)
    backend = reader.TorchBackend(model)
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    rows, skipped = ["image,text,x,y,w,h,split"], []
    for k, entry in enumerate(read_manifest(manifest)):
        if entry.problem or entry.box is None:
            skipped.append("%s: %s" % (entry.where, entry.problem or "no box"))
            continue
        gray = annotated.read_gray(entry)
        x, y, w, h = (int(round(v)) for v in entry.box)
        region = gray[max(0, y):y + h, max(0, x):x + w]
        canvas = data.for_reading(region, True, orient.text_angle(region))
        found = reader.read(backend, [canvas], place=reader.to_level)[0]
        label = entry.text.strip().upper()
        line = nearest_line(found, label)
        if line is None:
            skipped.append("%s (%s): no line read near %r (read: %s)" % (
                entry.where, entry.path, label, " | ".join(text for _, text, _ in found) or "nothing"))
            continue
        upright = canvas.source[canvas.pad:canvas.source.shape[0] - canvas.pad,
                                canvas.pad:canvas.source.shape[1] - canvas.pad]
        name = "img/%04d.png" % k
        cv2.imwrite(os.path.join(out, name), upright)
        x0, y0, x1, y1 = line[0]
        x0, y0 = max(0.0, x0), max(0.0, y0)
        x1, y1 = min(float(upright.shape[1]), x1), min(float(upright.shape[0]), y1)
        rows.append("%s,%s,%d,%d,%d,%d,%s" % (name, label, int(x0), int(y0), int(round(x1 - x0)), int(round(y1 - y0)),
                                              entry.split))
    with open(os.path.join(out, "manifest.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    return skipped


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", help="a folder with manifest.csv, or a manifest: one row per photo, box and code")
    parser.add_argument("--out", required=True, help="folder for the upright regions and the line-per-row manifest")
    parser.add_argument("--weights", default=reader.WEIGHTS, help="the reader that finds and reads the lines")
    args = parser.parse_args(argv)
    try:
        skipped = label_lines(args.dataset, args.out, args.weights)
    except (ManifestError, annotated.AnnotationError, OSError) as exc:
        print("error: %s" % exc, file=sys.stderr)
        return 2
    for message in skipped:
        print("left out: %s" % message, file=sys.stderr)
    print("%s: line annotations written, %d row(s) left out" % (os.path.join(args.out, "manifest.csv"), len(skipped)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
