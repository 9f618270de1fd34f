"""Single text lines for training recognisers: each line of a generated code, cut out with
the surface around it, its tight box and its text; then, at training time, the ways a real
line reaches a recogniser (``augment``): a detector's box a little off, a crop cut tight at
the print, binarised (a scanner's or a phone app's black on white), printed thinner or
bolder, seen at low resolution.

Sources, drawn per line sample (``line_samples``): the benchmark's generator
(``synth.frames``, whole photographed frames: what the embedded dataset looks like) and the
printing-style generator (``synth.printing``: many typefaces, print techniques, surfaces and
formats); with probability ``random_lines`` a line prints random code characters instead of
a code, and with probability ``mixed_lines`` a line of a code's parts in no fixed order
(``mixed_line``: field names, dates with digits or month names, times, lots, serials), so
that a recogniser reads each character rather than recite the formats.

Rendering is the slow part (a frame of the benchmark's generator takes ~35 ms, a printing
crop ~3 ms), so lines are rendered once into a cache (``write_cache``, ``LineCache``) that
training reads at the speed of its steps:

    python -m synth.lines --out ~/.cache/ocr-edge-bench/lines/train --count 200000

Deterministic: line sample ``i`` of a seed depends only on (seed, i) and the settings.
"""
import argparse
import json
import os
import sys
from multiprocessing import Pool
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from synth import frames, printing

SEED = 20240801  # the project's generator seed; indices keep the sets apart (below)
TRAIN_START = 10000  # frames 0-199: the embedded set; 5000-5999: validation
STORE_HEIGHT = 40  # a stored line is at most this many pixels high (higher ones are shrunk)
MARGIN_Y, MARGIN_X = 0.6, 1.2  # surface kept around a stored line, in line heights
CODE_CHARS = frames.CODE_ALPHABET.replace(" ", "")
DIGITS = "0123456789"

Box = Tuple[float, float, float, float]  # x0, y0, x1, y1


class LineSample(NamedTuple):
    image: np.ndarray  # grey uint8: the line and the surface around it
    box: Box  # the line's tight box in ``image``
    text: str
    source: str  # "frames" or "printing:<family>/<technique>/<surface>/<format>"


def _weights(chars: str) -> np.ndarray:
    """How often real codes print each character: digits three times as often as a letter,
    O, I and Q (which fonts draw like 0 and 1) a third as often."""
    w = np.array([3.0 if c in DIGITS else 1.0 / 3.0 if c in "OIQ" else 1.0 for c in chars])
    return w / w.sum()


RANDOM_CHARS = CODE_CHARS
RANDOM_WEIGHTS = _weights(RANDOM_CHARS)


def random_line(rng: np.random.Generator) -> str:
    """6 to 40 code characters in no format, each as often as real codes print it
    (``_weights``): text whose every character must be read from the image, not guessed
    from the code's form."""
    return "".join(RANDOM_CHARS[i] for i in rng.choice(len(RANDOM_CHARS), int(rng.integers(6, 41)), p=RANDOM_WEIGHTS))


# the parts of a line as codes print them, for ``mixed_line`` (never the held-out phrase "USE BY")
FIELDS = ("EXP", "EXP.", "EXPIRY", "EXP DATE", "E", "LOT", "LOT NO.", "L", "BATCH", "B.NO.", "BN", "MFG", "MFD",
          "MFG.", "PKD", "PROD", "P", "BB", "BBE", "BEST BEFORE", "SN", "S/N", "REF", "NO.", "QTY")


def _mixed_part(rng: np.random.Generator) -> str:
    kind = rng.random()
    if kind < 0.22:
        field = str(rng.choice(FIELDS))
        return field + str(rng.choice([":", " ", "", ": "] if field.endswith(".") else [":", " ", "", ".", ": "]))
    if kind < 0.4:  # a date, in digits or with a month's name
        if rng.random() < 0.5:
            return printing._date(rng, str(rng.choice(["dmy", "my", "ymd", "ym"])), str(rng.choice(["/", ".", "-", " "])),
                                  int(rng.choice([2, 4])))
        month, year = str(rng.choice(printing.MONTHS)), int(rng.integers(2019, 2034))
        year_text = str(year) if rng.random() < 0.6 else "%02d" % (year % 100)
        day = "%02d" % rng.integers(1, 32)
        return [month + " " + year_text, day + " " + month + " " + year_text, month + "." + year_text,
                year_text + " " + month, day + month + year_text, month + "-" + year_text][int(rng.integers(6))]
    if kind < 0.5:
        return printing._time(rng)
    if kind < 0.75:  # a lot: a letter or two and digits, repeats included (P110919)
        digits = printing._pick(rng, DIGITS, int(rng.integers(3, 11)))
        if rng.random() < 0.3:
            at = int(rng.integers(len(digits)))
            digits = digits[:at] + digits[at] * int(rng.integers(1, 4)) + digits[at:]
        return printing._pick(rng, printing.UPPER, int(rng.integers(0, 3))) + digits
    if kind < 0.9:  # a serial
        return printing._pick(rng, DIGITS + printing.UPPER, int(rng.integers(3, 13)))
    return printing._pick(rng, DIGITS, int(rng.integers(1, 5))) + str(rng.choice(list("/.-:,"))) + \
        printing._pick(rng, DIGITS, int(rng.integers(1, 5)))


def mixed_line(rng: np.random.Generator) -> str:
    """Two to five parts of codes in no fixed order (``FIELDS``, dates with digits or month
    names, times, lots with repeated digits, serials), at most 40 characters: a line in a
    format no generator was written for, as another factory prints it."""
    parts = [_mixed_part(rng) for _ in range(int(rng.integers(2, 6)))]
    text = ""
    for part in parts:
        joined = text + ("" if not text or text.endswith((":", " ")) or rng.random() < 0.15 else " ") + part
        if len(joined.strip()) > 40:
            break
        text = joined
    return text.strip() or parts[0][:40].strip() or "0"


def cut_lines(gray: np.ndarray, boxes: Sequence[Box], texts: Sequence[str], source: str) -> List[LineSample]:
    """Each line of a grey image with the surface around it (``MARGIN_Y``, ``MARGIN_X`` line
    heights where the image has it), shrunk to at most ``STORE_HEIGHT`` pixels of line."""
    out = []
    fh, fw = gray.shape
    for (x0, y0, x1, y1), text in zip(boxes, texts):
        h = max(1.0, y1 - y0)
        if not text.strip() or x1 - x0 < 2:
            continue
        cx0, cy0 = int(max(0, x0 - MARGIN_X * h)), int(max(0, y0 - MARGIN_Y * h))
        cx1, cy1 = int(min(fw, np.ceil(x1 + MARGIN_X * h))), int(min(fh, np.ceil(y1 + MARGIN_Y * h)))
        image = gray[cy0:cy1, cx0:cx1]
        box = (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0)
        scale = min(1.0, STORE_HEIGHT / h)
        if scale < 1.0:
            size = (max(1, int(round(image.shape[1] * scale))), max(1, int(round(image.shape[0] * scale))))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            box = tuple(v * scale for v in box)
        out.append(LineSample(np.ascontiguousarray(image), tuple(float(v) for v in box), text, source))
    return out


def line_samples(index: int, seed: int = SEED, styles: float = 0.7, random_lines: float = 0.35,
                 held_out: Optional[str] = None, mixed_lines: float = 0.0,
                 technique: Optional[str] = None, pack_lines: float = 0.0) -> List[LineSample]:
    """The lines of generated code ``index``: with probability ``pack_lines`` a pack's date
    block photographed at an angle and straightened (synth/packs.py); else from the
    printing-style generator with probability ``styles`` (``held_out`` and ``technique`` as
    its ``render`` takes them), else from the benchmark's generator; random characters with
    probability ``random_lines``, else a ``mixed_line`` with probability ``mixed_lines``."""
    if pack_lines and not held_out and np.random.default_rng([seed, index, 12]).random() < pack_lines:
        from synth import packs

        return packs.line_samples(index, seed)
    pick = np.random.default_rng([seed, index, 11])
    lines = [random_line(pick)] if pick.random() < random_lines else None
    if lines is None and mixed_lines and pick.random() < mixed_lines:
        lines = [mixed_line(pick)]
    if held_out or pick.random() < styles:
        crop = printing.render(seed, index, held_out, lines, technique)
        return cut_lines(crop.image, crop.boxes, crop.texts, "printing:" + "/".join(crop.style))
    sample = frames.render(seed, index, lines)
    gray = cv2.cvtColor(sample.image, cv2.COLOR_RGB2GRAY)
    boxes = [(x, y, x + w, y + h) for (x, y, w, h), _ in sample.lines]
    return cut_lines(gray, boxes, [text for _, text in sample.lines], "frames")


# ---------------------------------------------------------------- augmentation
INK_SHARE = (0.03, 0.6)  # the share of a line's box a legible binarised print covers


def _flattened(gray: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``gray`` divided by its surface's light (its closing: dark print filled in), ×255."""
    surface = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel)
    return np.clip(gray.astype(np.float32) * 255.0 / np.maximum(surface, 1), 0, 255).astype(np.uint8)


def binarised(gray: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """Black print on white, as a binarising scanner or phone app leaves a photo: maybe
    smoothed a little, the surface's uneven light divided out (its closing over 1.5 line
    heights), light print on a dark surface turned dark (the print: the smaller class inside
    the line's box once the light is even), then a local (adaptive) threshold over a
    character's size or more, Otsu's, or Otsu's moved by up to 15% of the gap between
    print and surface, each set from the line's box. The result stays legible: one whose print
    vanished or flooded the box (its ink outside ``INK_SHARE``) is replaced by Otsu's, as a
    user would scan such a code again rather than keep it."""
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0 = min(max(0, x0), gray.shape[1] - 1), min(max(0, y0), gray.shape[0] - 1)
    x1, y1 = max(x0 + 1, x1), max(y0 + 1, y1)
    if rng.random() < 0.5:  # the app's smoothing of sensor noise
        gray = cv2.GaussianBlur(gray, (0, 0), rng.uniform(0.3, 1.0))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, int(1.5 * (y1 - y0))) | 1,) * 2)
    even = _flattened(gray, kernel)
    level, _ = cv2.threshold(even[y0:y1, x0:x1], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if (even[y0:y1, x0:x1] <= level).mean() > 0.5:  # the darker class is the larger: the surface
        even = _flattened(255 - gray, kernel)
        level, _ = cv2.threshold(even[y0:y1, x0:x1], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    inside = even[y0:y1, x0:x1]
    light, dark = inside[inside > level], inside[inside <= level]
    gap = float(light.mean() - dark.mean()) if light.size and dark.size else 0.0
    kind = rng.random()
    if kind < 0.5:
        block = max(7, int(rng.uniform(0.8, 2.5) * (y1 - y0))) | 1
        method = cv2.ADAPTIVE_THRESH_GAUSSIAN_C if rng.random() < 0.5 else cv2.ADAPTIVE_THRESH_MEAN_C
        out = cv2.adaptiveThreshold(even, 255, method, cv2.THRESH_BINARY, block, max(2.0, gap * rng.uniform(0.03, 0.15)))
    else:
        shift = 0.0 if kind < 0.8 else gap * rng.uniform(-0.15, 0.15)
        out = cv2.threshold(even, float(np.clip(level + shift, 1, 254)), 255, cv2.THRESH_BINARY)[1]
    if not INK_SHARE[0] <= float((out[y0:y1, x0:x1] == 0).mean()) <= INK_SHARE[1]:
        out = cv2.threshold(even, float(level), 255, cv2.THRESH_BINARY)[1]
    return out


def augment(sample: LineSample, rng: np.random.Generator) -> Tuple[np.ndarray, Box]:
    """One training view of a line: maybe cut tight at its print, binarised, thinner or
    bolder strokes, lower resolution, blurred. Returns the grey image and the line's box."""
    image, box = sample.image, sample.box
    if rng.random() < 0.15:  # the photo itself ends at the print (a tight crop)
        x0, y0, x1, y1 = box
        pad = rng.uniform(0, 0.12, 4) * (y1 - y0)
        c0, r0 = int(max(0, x0 - pad[0])), int(max(0, y0 - pad[1]))
        c1, r1 = int(min(image.shape[1], np.ceil(x1 + pad[2]))), int(min(image.shape[0], np.ceil(y1 + pad[3])))
        image, box = image[r0:r1, c0:c1], (x0 - c0, y0 - r0, x1 - c0, y1 - r0)
    h = box[3] - box[1]
    if rng.random() < 0.2 and h > 12:  # seen from further away: fewer pixels per character
        scale = rng.uniform(max(0.3, 8.0 / h), 0.8)
        small = cv2.resize(image, (max(1, int(image.shape[1] * scale)), max(1, int(image.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
        image = cv2.resize(small, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.3:
        image = binarised(image, box, rng)
        if rng.random() < 0.3:  # ink spread or starved: strokes bolder or thinner
            op = cv2.MORPH_ERODE if rng.random() < 0.5 else cv2.MORPH_DILATE  # on white paper erode = bolder
            image = cv2.morphologyEx(image, op, np.ones((2, 2), np.uint8))
    elif rng.random() < 0.1:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.2))
    return image, box


def marks(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """Now and then, what real crops carry beside the code: stray marks just outside the
    line (a neighbouring print, a speck, a scratch; 15%), or ink missing from the print
    (dropped dots, a worn ribbon; 10%)."""
    x0, y0, x1, y1 = box
    h = max(2.0, y1 - y0)
    ink, paper = (float(v) for v in np.percentile(image, (3, 97)))
    draw = rng.random()
    if draw >= 0.25:
        return image
    image = image.copy()
    for _ in range(int(rng.integers(1, 4)) if draw < 0.15 else int(rng.integers(2, 9))):
        size = (max(1, int(rng.uniform(0.05, 0.3) * h)), max(1, int(rng.uniform(0.05, 0.3) * h)))
        if draw < 0.15:  # beside the line, at either end or above or below it
            side = rng.integers(4)
            cx = x0 - rng.uniform(0.05, 0.6) * h if side == 0 else x1 + rng.uniform(0.05, 0.6) * h if side == 1 \
                else rng.uniform(x0, x1)
            cy = rng.uniform(y0, y1) if side < 2 else (y0 - rng.uniform(0.1, 0.5) * h if side == 2
                                                       else y1 + rng.uniform(0.1, 0.5) * h)
            tone = ink
        else:  # on the print
            cx, cy, tone = rng.uniform(x0, x1), rng.uniform(y0, y1), paper
        cv2.ellipse(image, (int(cx), int(cy)), size, float(rng.uniform(0, 180)), 0, 360, int(tone), -1)
    return image


# ---------------------------------------------------------------- the cache
def _render(job: Tuple[int, int, float, float, float, Optional[str], float]) -> List[LineSample]:
    index, seed, styles, random_lines, mixed_lines, technique, pack_lines = job
    return line_samples(index, seed, styles, random_lines, mixed_lines=mixed_lines, technique=technique,
                        pack_lines=pack_lines)


def write_cache(out: str, start: int, count: int, seed: int = SEED, styles: float = 0.7,
                random_lines: float = 0.35, workers: int = 1, shard: int = 0, mixed_lines: float = 0.0,
                technique: Optional[str] = None, pack_lines: float = 0.0) -> int:
    """Render generated codes ``start`` .. ``start + count`` and append their lines to
    ``out/pixels-<shard>.bin`` (rows of uint8 pixels) and ``out/lines-<shard>.jsonl`` (one
    line each: where its pixels are, its shape, box, text and source). Returns the lines
    written. A cache is only ever appended to; ``LineCache`` reads every shard."""
    os.makedirs(out, exist_ok=True)
    pixels_path = os.path.join(out, "pixels-%d.bin" % shard)
    offset = os.path.getsize(pixels_path) if os.path.exists(pixels_path) else 0
    written = 0
    jobs = [(i, seed, styles, random_lines, mixed_lines, technique, pack_lines) for i in range(start, start + count)]
    with open(pixels_path, "ab") as pixels, open(os.path.join(out, "lines-%d.jsonl" % shard), "a") as meta, \
            Pool(workers) as pool:
        for n, lines in enumerate(pool.imap(_render, jobs, chunksize=16), 1):
            for line in lines:
                pixels.write(line.image.tobytes())
                meta.write(json.dumps({"offset": offset, "shape": line.image.shape, "box": [round(v, 2) for v in line.box],
                                       "text": line.text, "source": line.source, "index": start + n - 1}) + "\n")
                offset += line.image.size
                written += 1
            if n % 2000 == 0:
                pixels.flush()
                meta.flush()
                print("%s: %d/%d codes, %d lines" % (out, n, count, written), file=sys.stderr, flush=True)
    return written


class LineCache:
    """The lines of a cache folder (every shard), their pixels read from disk when asked."""

    def __init__(self, folder: str) -> None:
        shards = sorted(int(name[6:-6]) for name in os.listdir(folder) if name.startswith("lines-")) \
            if os.path.isdir(folder) else []
        if not shards:
            raise FileNotFoundError("no line cache in %s (python -m synth.lines --out %s ...)" % (folder, folder))
        self._data, rows = [], []  # rows: shard, offset, height, width, x0, y0, x1, y1
        self.texts: List[str] = []
        self.sources: List[str] = []
        for k in shards:
            path = os.path.join(folder, "pixels-%d.bin" % k)
            data = np.memmap(path, np.uint8, "r") if os.path.getsize(path) else np.zeros(0, np.uint8)
            self._data.append(data)
            with open(os.path.join(folder, "lines-%d.jsonl" % k)) as f:
                for row in f:
                    try:
                        entry = json.loads(row)
                    except ValueError:  # a line cut short by a killed writer
                        continue
                    (h, w), offset = entry["shape"], entry["offset"]
                    if offset + h * w <= data.size:
                        rows.append([len(self._data) - 1, offset, h, w] + entry["box"])
                        self.texts.append(entry["text"])
                        self.sources.append(entry["source"])
        self._rows = np.array(rows, np.float64).reshape(-1, 8)

    def __len__(self) -> int:
        return len(self.texts)

    def widths(self, height: int) -> np.ndarray:
        """Each stored line's width when scaled to ``height`` pixels of line."""
        return self._rows[:, 3] * height / np.maximum(1.0, self._rows[:, 7] - self._rows[:, 5])

    def __getitem__(self, i: int) -> LineSample:
        shard, offset, h, w = (int(v) for v in self._rows[i, :4])
        image = np.asarray(self._data[shard][offset: offset + h * w]).reshape(h, w)
        return LineSample(image, tuple(float(v) for v in self._rows[i, 4:]), self.texts[i], self.sources[i])

    def __iter__(self) -> Iterator[LineSample]:
        return (self[i] for i in range(len(self)))


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="cache folder (appended to)")
    parser.add_argument("--start", type=int, default=TRAIN_START,
                        help="first code (default %(default)s; 0-199 make the embedded set, 5000-5999 validation)")
    parser.add_argument("--count", type=int, required=True, help="codes to render (each gives 1 to 3 lines)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--styles", type=float, default=0.7, help="share from the printing-style generator")
    parser.add_argument("--random-lines", type=float, default=0.35, help="share of random-character lines")
    parser.add_argument("--mixed-lines", type=float, default=0.0,
                        help="share of the other lines that print a code's parts in no fixed order")
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    parser.add_argument("--shard", type=int, default=0, help="this writer's shard number (parallel writers)")
    parser.add_argument("--technique", choices=[t for t in printing.TECHNIQUES if t != printing.HELD_OUT["technique"]],
                        help="every printing-style line in this technique (a shard that strengthens one)")
    parser.add_argument("--pack-lines", type=float, default=0.0,
                        help="share of codes that are a pack's date block photographed at an angle (synth/packs.py)")
    args = parser.parse_args(argv)
    n = write_cache(args.out, args.start, args.count, args.seed, args.styles, args.random_lines,
                    args.workers, args.shard, args.mixed_lines, args.technique, args.pack_lines)
    print("%d lines into %s" % (n, args.out))


if __name__ == "__main__":
    main()
