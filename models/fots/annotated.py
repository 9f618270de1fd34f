"""A user's own annotated photos as training frames for fine-tuning the FOTS reader.

The annotation is the harness's manifest format with one row per text line: rows of one
image share its path, each row's ``x,y,w,h`` is that line's box and ``text`` its text, and
``split: test`` marks rows (whole images) that are never trained on and are read at each
save instead. The benchmark reads such a manifest too, one line per sample.

    image,text,x,y,w,h,split
    img/0001.jpg,LOT 2215029520,112,80,410,38,
    img/0001.jpg,EXP 08/2023,112,126,260,38,
    img/0002.jpg,L2215 10:22,96,60,380,40,test

Fine-tuning trains the reader's line recogniser on each line of the training photos
(``lines``: cut out with the surface around it, as synth/lines.py cuts generated lines, then
seen as a detector's box and a camera would give it), and reads the held-out photos end to
end, each cropped around its lines (``crop``). Images are decoded as the benchmark decodes
them (bench/dataset.py), so a file the benchmark refuses (a truncated JPEG, say) is refused
here too, by file and row.
"""
import hashlib
import os
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Tuple

import cv2
import numpy as np

from bench.dataset import Entry, ManifestError, SampleError, decode, read_bytes, read_manifest
from models.fots.net import VOCAB
from synth import printing
from synth.lines import LineSample, cut_lines

MIN_IMAGES = 5  # fewer cannot give a held-out image and still train on several
HOLD_OUT_EVERY = 10  # without split: test rows, every tenth image is held out


class AnnotationError(Exception):
    """The annotated set cannot be trained on; the message names the file and row."""


class Photo(NamedTuple):
    path: str
    lines: List[Tuple[Tuple[float, float, float, float], str]]  # (x0, y0, x1, y1), text, top to bottom
    where: str  # its first manifest row, for messages


class Annotated(NamedTuple):
    train: List[Photo]
    test: List[Photo]
    about: Dict[str, object]  # for config.json: the manifest, its hash, counts, how test was chosen


MAP_ADVICE = "map them (--map a=A, --map '#=' to drop one) or drop them all (--drop-unknown)"


def _mapped(text: str, mapping: Dict[str, str], drop_unknown: bool, where: str, vocab: str, advice: str) -> str:
    text = "".join(mapping.get(c, c) for c in text)
    unknown = sorted(set(c for c in text if c not in vocab))
    if unknown and not drop_unknown:
        raise AnnotationError("%s: characters outside the recogniser's alphabet (%s): %s; %s"
                              % (where, vocab.replace(" ", "space "), ", ".join(repr(c) for c in unknown), advice))
    return "".join(c for c in text if c in vocab)


def load(location: str, mapping: Dict[str, str] = None, drop_unknown: bool = False, vocab: str = VOCAB,
         advice: str = MAP_ADVICE) -> Annotated:
    """The photos of a folder (holding manifest.csv) or a manifest, each with its lines,
    split into training and held-out photos; every problem an AnnotationError naming the
    file and row. ``vocab``: the alphabet of the recogniser to be trained; ``advice``: what
    its command offers for characters outside it."""
    manifest = os.path.join(location, "manifest.csv") if os.path.isdir(location) else location
    try:
        entries = read_manifest(manifest)
    except ManifestError as exc:
        raise AnnotationError(str(exc))
    photos: "OrderedDict[str, list]" = OrderedDict()
    held: Dict[str, bool] = {}
    for entry in entries:
        if entry.problem:
            raise AnnotationError(entry.problem)
        if entry.box is None:
            raise AnnotationError("%s (%s): no box; fine-tuning needs each text line's box in x,y,w,h, one row per "
                                  "line" % (entry.where, entry.path))
        if not os.path.isfile(entry.path):
            raise AnnotationError("%s: image %s not found" % (entry.where, entry.path))
        text = _mapped(entry.text.strip(), mapping or {}, drop_unknown, "%s (%s)" % (entry.where, entry.path), vocab,
                       advice)
        if not text:
            raise AnnotationError("%s (%s): empty text; a line box needs the line's text" % (entry.where, entry.path))
        x, y, w, h = entry.box
        photos.setdefault(entry.path, []).append(((float(x), float(y), float(x + w), float(y + h)), text, entry))
        held[entry.path] = held.get(entry.path, False) or entry.split == "test"
    if len(photos) < MIN_IMAGES:
        raise AnnotationError("%s: %d image(s), too few to hold any out and still train; annotate at least %d"
                              % (manifest, len(photos), MIN_IMAGES))
    for path, lines in photos.items():  # every image decodes as the benchmark decodes it, every box on it
        image = read_gray(lines[0][2])
        for (x0, y0, x1, y1), _, entry in lines:
            if x1 > image.shape[1] or y1 > image.shape[0]:
                raise AnnotationError("%s: box (%g,%g,%g,%g) reaches past the %dx%d image %s"
                                      % (entry.where, x0, y0, x1 - x0, y1 - y0, image.shape[1], image.shape[0], path))
    chosen = "split: test rows"
    if not any(held.values()):
        chosen = "every %dth image (no split: test rows)" % HOLD_OUT_EVERY
        held = {path: i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 or (i == len(photos) - 1 and len(photos) < HOLD_OUT_EVERY)
                for i, path in enumerate(photos)}
    out: Dict[bool, List[Photo]] = {True: [], False: []}
    for path, lines in photos.items():
        ordered = sorted(lines, key=lambda line: (line[0][1] + line[0][3]) / 2)
        out[held[path]].append(Photo(path, [(box, text) for box, text, _ in ordered], lines[0][2].where))
    if not out[False]:
        raise AnnotationError("%s: every image is marked split: test; nothing is left to train on" % manifest)
    with open(manifest, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    about = {"manifest": os.path.abspath(manifest), "manifest_sha256": digest, "images": len(photos),
             "lines": sum(len(v) for v in photos.values()), "train_images": len(out[False]),
             "test_images": len(out[True]), "held_out": chosen}
    return Annotated(out[False], out[True], about)


def read_gray(entry: Entry) -> np.ndarray:
    """A photo as the benchmark reads it (grey, uncropped); AnnotationError naming the file and
    row when it cannot be read or decoded (missing, empty, corrupt, truncated)."""
    try:
        return decode(read_bytes(entry), entry, grayscale=True, crop=False)
    except SampleError as exc:
        raise AnnotationError(str(exc))


def _gray(photo: Photo) -> np.ndarray:
    return read_gray(Entry(photo.path, photo.path, "", None, "", photo.where, None))  # checked by ``load``


def lines(photo: Photo) -> List[LineSample]:
    """Each line of a photo with the surface around it, as the line recogniser trains on it."""
    return cut_lines(_gray(photo), [box for box, _ in photo.lines], [text for _, text in photo.lines],
                     "photo:" + os.path.basename(photo.path))


def crop(photo: Photo) -> Tuple[np.ndarray, List[Tuple[float, float, float, float]]]:
    """A photo cropped around its lines (a twentieth of their width at the sides, a third of a
    line above and below), as the benchmark reads a manifest's box; the lines' boxes in it."""
    gray = _gray(photo)
    boxes = np.array([box for box, _ in photo.lines])
    x0, y0, x1, y1 = boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()
    mx, my = 0.05 * (x1 - x0), 0.3 * (y1 - y0) / len(photo.lines)
    cx0, cy0 = int(max(0, x0 - mx)), int(max(0, y0 - my))
    cx1, cy1 = int(min(gray.shape[1], x1 + mx)), int(min(gray.shape[0], y1 + my))
    return gray[cy0:cy1, cx0:cx1], [(a - cx0, b - cy0, c - cx0, d - cy0) for a, b, c, d in boxes]


def write_example(out: str, count: int, test: int, held_out: str = "technique", seed: int = 77) -> str:
    """A stand-in for a user's photos: ``count`` crops of the printing-style generator in its
    ``held_out`` part (a style the committed reader never trained on), written as JPEG files
    with a line-per-row manifest whose last ``test`` images are ``split: test``."""
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    rows = ["image,text,x,y,w,h,split"]
    for i in range(count):
        crop = printing.render(seed, i, held_out)
        name = "img/%04d.jpg" % i
        cv2.imwrite(os.path.join(out, name), crop.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        h, w = crop.image.shape
        for (x0, y0, x1, y1), text in zip(crop.boxes, crop.texts):
            x0, y0 = max(0, int(x0)), max(0, int(y0))
            x1, y1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
            rows.append("%s,%s,%d,%d,%d,%d,%s" % (name, text, x0, y0, x1 - x0, y1 - y0,
                                                  "test" if i >= count - test else ""))
    manifest = os.path.join(out, "manifest.csv")
    with open(manifest, "w") as f:
        f.write("\n".join(rows) + "\n")
    return manifest
