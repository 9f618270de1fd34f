"""A check set that looks like a user's phone photographs of printed codes after a
binarising app: one code line per image, cropped tight at its print (0 to 3 pixels of
margin), black print on white, in printing styles (synth/printing.py) that include the
parts held out of training (a family, a technique, a format) and dot-matrix print. It
predicts how a reader does on such photos without training on them; it is no photograph.

    python -m synth.photolike --out results/photolike --count 300
    make bench ARGS="--dataset results/photolike"

Deterministic in (seed, count); indices 5000-5999 of the printing generator (validation,
never trained on), so no reader trained here has seen its codes.
"""
import argparse
import csv
import os
from typing import List, Optional

import cv2
import numpy as np

from synth import printing
from synth.lines import binarised

SEED = 20240801
START = 5000
PARTS = (None, "family", "technique", "format")  # trained styles, then each held-out part in turn


def tight_binarised(index: int, seed: int = SEED) -> List[tuple]:
    """The lines of validation crop ``index`` as (image, text): each binarised black on white
    and cut at its print with 0 to 3 pixels to spare."""
    held = PARTS[index % len(PARTS)]
    crop = printing.render(seed, START + index, held)
    rng = np.random.default_rng([seed, index, 21])
    out = []
    for box, text in zip(crop.boxes, crop.texts):
        image = binarised(crop.image, box, rng)
        x0, y0, x1, y1 = box
        pad = rng.integers(0, 4, 4)
        h, w = image.shape
        c0, r0 = int(max(0, np.floor(x0) - pad[0])), int(max(0, np.floor(y0) - pad[1]))
        c1, r1 = int(min(w, np.ceil(x1) + pad[2])), int(min(h, np.ceil(y1) + pad[3]))
        if c1 - c0 > 4 and r1 - r0 > 4:
            out.append((image[r0:r1, c0:c1], text))
    return out


def write(out: str, count: int, seed: int = SEED) -> str:
    """``count`` images (one line each) with a manifest; returns its path."""
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    rows, index = [], 0
    while len(rows) < count:
        for k, (image, text) in enumerate(tight_binarised(index, seed)):
            if len(rows) < count:
                name = "img/%05d-%d.png" % (index, k)
                cv2.imwrite(os.path.join(out, name), image)
                rows.append((name, text))
        index += 1
    manifest = os.path.join(out, "manifest.csv")
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["image", "text"])
        writer.writerows(rows)
    return manifest


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    print(write(args.out, args.count, args.seed))


if __name__ == "__main__":
    main()
