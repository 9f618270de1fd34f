"""Training crops in many printing styles, rendered in grey straight at crop size.

The benchmark's generator (synth/frames.py) draws a whole 640 x 480 colour frame and is kept
byte-stable for the embedded dataset; training only needs the code's neighbourhood, so this
one renders just that, from glyphs cached per font and size, which makes a frame several
times cheaper. A frame's ``Style`` has four parts, each drawn at random:

- family: every code-like typeface Debian ships (``FAMILIES``), and a 5 x 7 dot-matrix font;
- technique: ink, inkjet dots sampled from the glyphs, 5 x 7 inkjet, thermal transfer,
  embossed, engraved (laser-marked);
- surface: flat, paper, cardboard, brushed metal, mottled plastic, glossy dark plastic,
  label on a darker pack;
- format: the code's grammar (``FORMATS``): dates, lots, serials, with and without spaces
  around their punctuation.

One family, one technique and one format are held out of training (``HELD_OUT``): validation
reads them apart (``python -m models.fots.evaluate --styles``), so the figures show whether
the reader reads characters or has learnt the generator.
"""
import functools
import os
from typing import Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np
from PIL import ImageFont

FONT_ROOT = "/usr/share/fonts"
# family -> font files under FONT_ROOT (Debian packages in env/system-packages.txt)
FAMILIES: Dict[str, Tuple[str, ...]] = {
    "dejavu-sans-mono": ("truetype/dejavu/DejaVuSansMono.ttf", "truetype/dejavu/DejaVuSansMono-Bold.ttf"),
    "dejavu-sans": ("truetype/dejavu/DejaVuSans.ttf", "truetype/dejavu/DejaVuSans-Bold.ttf",
                    "truetype/dejavu/DejaVuSansCondensed.ttf", "truetype/dejavu/DejaVuSansCondensed-Bold.ttf"),
    "liberation-mono": ("truetype/liberation2/LiberationMono-Regular.ttf",
                        "truetype/liberation2/LiberationMono-Bold.ttf"),
    "liberation-sans": ("truetype/liberation2/LiberationSans-Regular.ttf",
                        "truetype/liberation2/LiberationSans-Bold.ttf"),
    "ocr-a": ("truetype/ocr-a/OCRA.ttf",),
    "ocr-b": ("opentype/ocr-b/OCRB.otf",),
    "dseg14": ("truetype/dseg/DSEG14Classic-Bold.ttf", "truetype/dseg/DSEG14Classic-Regular.ttf",
               "truetype/dseg/DSEG14Modern-Bold.ttf"),
    "nimbus-mono": ("opentype/urw-base35/NimbusMonoPS-Regular.otf", "opentype/urw-base35/NimbusMonoPS-Bold.otf"),
    "nimbus-sans": ("opentype/urw-base35/NimbusSans-Regular.otf", "opentype/urw-base35/NimbusSans-Bold.otf",
                    "opentype/urw-base35/NimbusSansNarrow-Bold.otf", "opentype/urw-base35/NimbusSansNarrow-Regular.otf"),
    "free-mono": ("truetype/freefont/FreeMono.ttf", "truetype/freefont/FreeMonoBold.ttf"),
    "free-sans": ("truetype/freefont/FreeSans.ttf", "truetype/freefont/FreeSansBold.ttf"),
    "hack": ("truetype/hack/Hack-Regular.ttf", "truetype/hack/Hack-Bold.ttf"),
    "inconsolata": ("truetype/inconsolata/Inconsolata.otf",),
    "jetbrains-mono": ("truetype/jetbrains-mono/JetBrainsMono-Regular.ttf",
                       "truetype/jetbrains-mono/JetBrainsMono-Bold.ttf"),
    # the heavy and bold sans faces that food packs print dates in (Debian: fonts-lato, fonts-roboto-unhinted,
    # fonts-open-sans)
    "heavy-sans": ("truetype/lato/Lato-Black.ttf", "truetype/lato/Lato-Heavy.ttf", "truetype/lato/Lato-Bold.ttf",
                   "truetype/roboto/unhinted/RobotoTTF/Roboto-Black.ttf",
                   "truetype/roboto/unhinted/RobotoTTF/Roboto-Bold.ttf",
                   "truetype/roboto/unhinted/RobotoCondensed-Bold.ttf",
                   "truetype/open-sans/OpenSans-ExtraBold.ttf", "truetype/open-sans/OpenSans-Bold.ttf"),
    "matrix-5x7": (),  # drawn from MATRIX_5X7 below, not from a font file
}
TECHNIQUES = ("ink", "inkjet", "thermal", "embossed", "engraved")
SURFACES = ("flat", "paper", "cardboard", "metal", "plastic", "dark-plastic", "label")
# what training never sees, and validation reads apart
HELD_OUT = {"family": "jetbrains-mono", "technique": "engraved", "format": "use-by-month"}

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")

# The classic 5 x 7 inkjet matrix: each glyph's seven rows of five dots, top first ('1': a dot).
MATRIX_5X7 = {
    "0": "01110 10001 10011 10101 11001 10001 01110",
    "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111",
    "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010",
    "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110",
    "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110",
    "9": "01110 10001 10001 01111 00001 00010 01100",
    "A": "01110 10001 10001 11111 10001 10001 10001",
    "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110",
    "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111",
    "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111",
    "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110",
    "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001",
    "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001",
    "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110",
    "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101",
    "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110",
    "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110",
    "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010",
    "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100",
    "Z": "11111 00001 00010 00100 01000 10000 11111",
    ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00000 00001 00010 00100 01000 10000 00000",
    "-": "00000 00000 00000 11111 00000 00000 00000",
    ".": "00000 00000 00000 00000 00000 01100 01100",
    ",": "00000 00000 00000 00000 01100 00100 01000",
    " ": " ".join(["00000"] * 7),
}


class Style(NamedTuple):
    family: str
    technique: str
    surface: str
    format: str


class Crop(NamedTuple):
    """A rendered code and its neighbourhood: grey uint8 pixels, each line's box (x0, y0,
    x1, y1 in its pixels) and text, and the style it was printed in."""

    image: np.ndarray
    boxes: List[Tuple[float, float, float, float]]
    texts: List[str]
    style: Style


# ---------------------------------------------------------------- code formats
def _pick(rng, chars: str, n: int) -> str:
    return "".join(chars[i] for i in rng.integers(0, len(chars), n))


def _sep(rng, mark: str) -> str:
    """A separator as lines print it: tight, or with a space before and/or after it."""
    return [mark, mark + " ", " " + mark + " ", " " + mark][int(rng.choice(4, p=[0.55, 0.3, 0.08, 0.07]))]


def _date(rng, order: str = "dmy", mark: str = "/", year_digits: int = 4) -> str:
    d, m, y = "%02d" % rng.integers(1, 29), "%02d" % rng.integers(1, 13), int(rng.integers(2019, 2033))
    y_text = str(y) if year_digits == 4 else "%02d" % (y % 100)
    parts = {"d": d, "m": m, "y": y_text}
    return mark.join(parts[k] for k in order)


def _time(rng) -> str:
    return "%02d:%02d" % (rng.integers(0, 24), rng.integers(0, 60))


def _label(rng, word: str) -> str:
    """A field's name and its separator: ``EXP:``, ``EXP :``, ``EXP.``, ``EXP `` or ``EXP``."""
    return word + [_sep(rng, ":"), ". ", " ", ""][int(rng.choice(4, p=[0.6, 0.1, 0.25, 0.05]))]


FORMATS = {
    "pro-exp-lot": lambda rng: ["PRO:%s/%dEXP:%s/%dL%sH%s" % (
        "%02d" % rng.integers(1, 13), rng.integers(2019, 2031), "%02d" % rng.integers(1, 13),
        rng.integers(2021, 2034), _pick(rng, DIGITS, 10), _time(rng))],
    "expiry": lambda rng: [_label(rng, rng.choice(["EXP", "EXPIRY", "E"])) +
                           _date(rng, rng.choice(["my", "dmy", "ymd"]), rng.choice(["/", ".", "-"]),
                                 int(rng.choice([2, 4])))],
    "manufactured": lambda rng: [_label(rng, rng.choice(["MFD", "MFG", "PKD", "PROD", "P"])) +
                                 _date(rng, rng.choice(["dmy", "ymd", "my"]), rng.choice(["/", ".", "-"]),
                                       int(rng.choice([2, 4]))) +
                                 (" " + _time(rng) if rng.random() < 0.4 else "")],
    "best-before": lambda rng: [_label(rng, rng.choice(["BEST BEFORE", "BB", "BBE"])) +
                                _date(rng, rng.choice(["dmy", "my"]), rng.choice(["/", "."]))],
    "lot": lambda rng: [_label(rng, rng.choice(["LOT", "L", "BATCH", "B", "LOT NO."])) +
                        rng.choice([_pick(rng, DIGITS, int(rng.integers(4, 11))),
                                    _pick(rng, UPPER, int(rng.integers(1, 3))) + _pick(rng, DIGITS, int(rng.integers(4, 9))),
                                    _pick(rng, DIGITS, 5) + " " + _time(rng),
                                    _pick(rng, UPPER + DIGITS, int(rng.integers(5, 10)))])],
    "serial": lambda rng: [(_label(rng, rng.choice(["SN", "S/N", "SER", "REF"])) if rng.random() < 0.4 else "") +
                           _pick(rng, DIGITS + UPPER, int(rng.integers(6, 15)))],
    "julian": lambda rng: ["%s%03d %s %s" % (_pick(rng, DIGITS, 2), rng.integers(1, 366), _time(rng),
                                              _pick(rng, UPPER + DIGITS, int(rng.integers(1, 4))))],
    "two-dates": lambda rng: ["%s%s %s%s" % (_label(rng, "P"), _date(rng, "dmy", ".", 2), _label(rng, "E"),
                                             _date(rng, "dmy", ".", 2))],
    "use-by-month": lambda rng: ["USE BY %02d %s %d" % (rng.integers(1, 29), rng.choice(MONTHS),
                                                      rng.integers(2019, 2033))],
}
MULTILINE = ("expiry", "manufactured", "lot", "serial", "best-before", "julian")


def random_text(rng, held_out: bool = False) -> Tuple[str, List[str]]:
    """A format's name and its lines; multi-line labels stack two or three single-line
    formats (named ``multiline``). ``held_out``: the held-out format only."""
    if held_out:
        return HELD_OUT["format"], FORMATS[HELD_OUT["format"]](rng)
    if rng.random() < 0.25:
        names = rng.choice(MULTILINE, int(rng.integers(2, 4)), replace=False)
        return "multiline", [FORMATS[n](rng)[0] for n in names]
    names = [n for n in FORMATS if n != HELD_OUT["format"]]
    name = names[int(rng.integers(len(names)))]
    return name, FORMATS[name](rng)


# ---------------------------------------------------------------- glyphs and masks
@functools.lru_cache(maxsize=64)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(os.path.join(FONT_ROOT, path), size)


@functools.lru_cache(maxsize=20000)
def _glyph(path: str, size: int, char: str) -> Tuple[np.ndarray, int, int, float]:
    """A character's coverage mask, its offset from the pen position and its advance."""
    font = _font(path, size)
    mask, (ox, oy) = font.getmask2(char, mode="L")
    pixels = np.asarray(mask, np.float32).reshape(mask.size[1], mask.size[0]) / 255.0
    return pixels, ox, oy, font.getlength(char)


def _font_lines(rng, path: str, lines: List[str], size: int) -> np.ndarray:
    gap = float(rng.uniform(-0.03, 0.25)) * size
    step = int(size * rng.uniform(1.1, 1.5))
    width = int(max(sum(_glyph(path, size, c)[3] + gap for c in line) for line in lines) + 3 * size)
    mask = np.zeros((step * len(lines) + 2 * size, width), np.float32)
    for row, line in enumerate(lines):
        x = float(size)
        for char in line:
            pixels, ox, oy, advance = _glyph(path, size, char)
            if pixels.size:
                top, left = size // 2 + row * step + oy, int(round(x)) + ox
                region = mask[top:top + pixels.shape[0], left:left + pixels.shape[1]]
                np.maximum(region, pixels[:region.shape[0], :region.shape[1]], out=region)
            x += advance + gap
    return mask


def _dots(rng, centres: np.ndarray, shape: Tuple[int, int], radius: float) -> np.ndarray:
    """Round inkjet dots at ``centres`` (N, 2: x, y), with jittered places, a few missing,
    and sizes that vary a little."""
    keep = rng.random(len(centres)) >= rng.uniform(0.0, 0.06)
    centres = centres[keep] + rng.normal(0, rng.uniform(0.0, 0.12) * max(radius, 1.0) * 2, (int(keep.sum()), 2))
    out = np.zeros(shape, np.float32)
    sizes = np.clip(radius * rng.uniform(0.8, 1.2, len(centres)), 0.6, None)
    for (x, y), r in zip(centres, sizes):
        cv2.circle(out, (int(round(x * 4)), int(round(y * 4))), int(round(r * 4)), 1.0, -1, cv2.LINE_AA, shift=2)
    return out


def _matrix_lines(rng, lines: List[str], size: int) -> np.ndarray:
    """Lines in the 5 x 7 inkjet font: ``size`` is the glyph height in pixels."""
    pitch = size / 7.0
    gap = int(rng.choice([1, 1, 2]))
    step = 7 + int(rng.integers(3, 6))
    width = int((max(len(line) for line in lines) * (5 + gap) + 4) * pitch) + 2
    shape = (int((len(lines) * step + 2) * pitch) + 2, width)
    centres = []
    for row, line in enumerate(lines):
        for col, char in enumerate(line):
            bits = MATRIX_5X7[char.upper()].replace(" ", "")
            for k, bit in enumerate(bits):
                if bit == "1":
                    centres.append(((2 + col * (5 + gap) + k % 5 + 0.5) * pitch, (1 + row * step + k // 5 + 0.5) * pitch))
    return _dots(rng, np.array(centres, np.float32).reshape(-1, 2), shape, pitch * rng.uniform(0.35, 0.55))


def inkjet_grid(rng, mask: np.ndarray, size: int) -> Tuple[np.ndarray, float, int]:
    """Where continuous inkjet puts its dots for a font's glyphs (``mask``, ``size`` px font):
    the dot centres (N, 2: x, y) on a canvas ``k`` times finer than ``mask`` and their pitch
    there. Capitals come out 7 to 10 dots high (a capital is ~0.72 of the font size), as the
    printers' 7- to 10-dot fonts print them; ``k`` keeps the pitch at least 3 px."""
    pitch = 0.72 * size / rng.uniform(7.0, 10.0)
    k = int(np.ceil(3.0 / pitch)) if pitch < 3.0 else 1
    h, w = mask.shape
    fine = cv2.resize(mask, (w * k, h * k), interpolation=cv2.INTER_LINEAR) if k > 1 else mask
    pitch *= k
    reach = max(1, int(pitch * 0.7))  # thin strokes thickened, so that every stroke gets dots
    thick = cv2.dilate(fine, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
    cells = cv2.resize(thick, (max(1, int(w * k / pitch)), max(1, int(h * k / pitch))), interpolation=cv2.INTER_AREA)
    ys, xs = np.nonzero(cells > rng.uniform(0.3, 0.45))
    return np.stack([(xs + 0.5) * pitch, (ys + 0.5) * pitch], 1).astype(np.float32), pitch, k


def _inkjet(rng, mask: np.ndarray, size: int) -> np.ndarray:
    """A font's glyphs printed as inkjet dots (``inkjet_grid``); dots drawn on the finer canvas
    are shrunk to ``mask``'s size, so that at small sizes they run together as a camera sees
    them rather than leave a coarser grid than any printer makes."""
    centres, pitch, k = inkjet_grid(rng, mask, size)
    if not len(centres):  # strokes too thin for the grid to catch: the glyphs as they are
        return mask
    h, w = mask.shape
    dots = _dots(rng, centres, (h * k, w * k), pitch * rng.uniform(0.35, 0.6))
    return cv2.resize(dots, (w, h), interpolation=cv2.INTER_AREA) if k > 1 else dots


def text_mask(rng, style: Style, lines: List[str]) -> np.ndarray:
    """The lines' ink coverage in [0, 1], tightly cropped, with a random width-to-height
    stretch (condensed to wide faces)."""
    longest = max(len(line) for line in lines)
    size = int(rng.integers(14, 40)) if longest < 22 else int(rng.integers(12, 26))
    if style.family == "matrix-5x7":
        mask = _matrix_lines(rng, lines, size)
    else:
        files = FAMILIES[style.family]
        mask = _font_lines(rng, files[int(rng.integers(len(files)))], lines, size)
        if style.technique == "inkjet":
            mask = _inkjet(rng, mask, size)
    ys, xs = np.nonzero(mask > 0.05)
    mask = mask[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    stretch = float(rng.uniform(0.65, 1.35))
    return cv2.resize(mask, (max(1, int(mask.shape[1] * stretch)), mask.shape[0]), interpolation=cv2.INTER_AREA)


def line_boxes(mask: np.ndarray, count: int) -> List[Tuple[float, float, float, float]]:
    """Each line's tight box in the mask (x0, y0, x1, y1), from its rows of ink; equal bands,
    at least a row each, when the ink does not split into ``count`` bands (faint print, no
    ink above 0.3 at all, more lines than rows)."""
    ink = mask > 0.3
    rows = np.nonzero(ink.any(axis=1))[0]
    bands = np.split(rows, np.nonzero(np.diff(rows) > max(2, 0.15 * mask.shape[0] / count))[0] + 1)
    if len(bands) != count or any(band.size == 0 for band in bands):
        edges = np.linspace(0, mask.shape[0], count + 1).astype(int)
        bands = [np.arange(a, max(a + 1, b)) for a, b in zip(edges[:-1], edges[1:])]
    out = []
    for band in bands:
        cols = np.nonzero(ink[band].any(axis=0))[0]
        cols = cols if cols.size else np.arange(mask.shape[1])
        out.append((float(cols[0]), float(band[0]), float(cols[-1] + 1), float(band[-1] + 1)))
    return out


# ---------------------------------------------------------------- surfaces and print
def surface(rng, kind: str, h: int, w: int) -> np.ndarray:
    """A grey surface texture around mean 0 (added to the surface's luminance)."""
    noise = rng.standard_normal((h, w)).astype(np.float32)
    if kind == "paper":
        return cv2.GaussianBlur(noise, (0, 0), 1.0) * 0.04
    if kind == "cardboard":
        fibres = cv2.blur(noise, (int(rng.integers(9, 31)), 1)) * 0.12
        return fibres + cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 2.0) * 0.05
    if kind == "metal":
        return cv2.blur(noise, (61, 1)) * 0.25
    if kind in ("plastic", "dark-plastic"):
        low = rng.standard_normal((h // 24 + 2, w // 24 + 2)).astype(np.float32)
        return cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC) * 0.04 + noise * 0.01
    return np.zeros((h, w), np.float32)


def _emboss(mask: np.ndarray, depth: float, angle: float) -> np.ndarray:
    """Shading of a relief shaped like ``mask``, lit from ``angle``."""
    relief = cv2.GaussianBlur(mask, (0, 0), 1.0)
    gx = cv2.Sobel(relief, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(relief, cv2.CV_32F, 0, 1, ksize=3)
    return (gx * np.cos(angle) + gy * np.sin(angle)) * depth


def printed(rng, style: Style, mask: np.ndarray, margin: Tuple[int, int, int, int]) -> np.ndarray:
    """The mask printed on its surface with the style's technique, as float grey in [0, 1]
    (before the camera); ``margin`` is the surface around the mask (left, top, right, bottom)."""
    left, top, right, bottom = margin
    h, w = mask.shape[0] + top + bottom, mask.shape[1] + left + right
    ink = np.zeros((h, w), np.float32)
    ink[top:top + mask.shape[0], left:left + mask.shape[1]] = mask
    dark_surface = style.surface == "dark-plastic" or (style.surface != "label" and rng.random() < 0.25)
    base = rng.uniform(0.05, 0.35) if dark_surface else rng.uniform(0.45, 0.95)
    image = np.full((h, w), base, np.float32) + surface(rng, style.surface, h, w)
    if style.surface == "label":  # a paper label on a darker pack: the label's edge may show
        edge = [int(rng.uniform(0, 1) * v) for v in (left, top, right, bottom)]
        pack = np.full((h, w), rng.uniform(0.1, 0.5), np.float32)
        pack[edge[1]:h - edge[3], edge[0]:w - edge[2]] = image[edge[1]:h - edge[3], edge[0]:w - edge[2]]
        image = pack
    contrast = rng.uniform(0.25, 0.5) if rng.random() < 0.2 else rng.uniform(0.45, 0.9)  # a fifth low
    tone = base - contrast if base > 0.5 else min(1.0, base + contrast)
    if style.technique in ("embossed", "engraved"):
        sign = 1.0 if style.technique == "embossed" else -1.0
        image = image + _emboss(ink, sign * rng.uniform(0.15, 0.4), rng.uniform(0, 2 * np.pi))
        paint = rng.uniform(0.0, 1.0) if style.technique == "embossed" else rng.uniform(0.2, 0.6)
        return image * (1 - ink * paint) + tone * ink * paint
    if style.technique == "thermal":  # missing heater dots print as thin blank columns
        for x in rng.integers(0, w, int(rng.integers(0, 4))):
            ink[:, x:x + int(rng.integers(1, 3))] *= rng.uniform(0.0, 0.4)
    ink = cv2.GaussianBlur(ink, (0, 0), rng.uniform(0.3, 0.9)) if rng.random() < 0.5 else ink
    alpha = ink * rng.uniform(0.7, 1.0)
    return image * (1 - alpha) + tone * alpha


def camera(rng, image: np.ndarray) -> np.ndarray:
    """Light, optics and sensor: uneven light, highlight, defocus or motion blur, exposure,
    noise, then JPEG; float grey in, uint8 out."""
    h, w = image.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    image = image * (1 + ((xx / w - 0.5) * np.cos(angle) + (yy / h - 0.5) * np.sin(angle)) * rng.uniform(0, 0.4))
    if rng.random() < 0.35:  # a specular highlight somewhere
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        rx, ry = rng.uniform(0.1, 0.5) * w + 4, rng.uniform(0.3, 1.5) * h + 4
        image = image + np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)) * rng.uniform(0.2, 0.7)
    if rng.random() < 0.2:  # a shadow's edge across the code (a hand, the pack's fold)
        side = (xx - rng.uniform(0, w)) * np.cos(angle) + (yy - rng.uniform(0, h)) * np.sin(angle)
        soft = rng.uniform(0.5, 0.3 * max(h, w) + 1)
        image = image * (1 - rng.uniform(0.2, 0.6) / (1 + np.exp(-side / soft)))
    blur = rng.random()
    if blur < 0.35:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.6))
    elif blur < 0.5:  # motion along the line, as on a conveyor
        length = int(rng.integers(2, 7))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        image = cv2.filter2D(image, -1, kernel)
    image = image * rng.uniform(0.65, 1.25) + rng.normal(0, rng.uniform(0.0, 0.04), (h, w)).astype(np.float32)
    pixels = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    if rng.random() < 0.5:
        ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        pixels = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return pixels


def _tilt(rng, image: np.ndarray, boxes: list, longest: int):
    """A small rotation and shear (a camera not quite square to the line), boxes moved
    with it (their axis-aligned hulls)."""
    h, w = image.shape
    degrees = rng.uniform(-1.0, 1.0) * (2.5 if longest < 20 else 1.0)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    matrix[0, 1] += rng.uniform(-0.12, 0.12)  # shear: upright to slanted strokes
    out = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    moved = []
    for x0, y0, x1, y1 in boxes:
        corners = np.array([[x0, y0, 1], [x1, y0, 1], [x0, y1, 1], [x1, y1, 1]], np.float32) @ matrix.T
        moved.append((max(0.0, float(corners[:, 0].min())), max(0.0, float(corners[:, 1].min())),
                      min(float(w), float(corners[:, 0].max())), min(float(h), float(corners[:, 1].max()))))
    return out, moved


def random_style(rng, held_out: Optional[str] = None, technique: Optional[str] = None,
                 family: Optional[str] = None) -> Style:
    """A style for training (nothing held out), or with the part named by ``held_out``
    ("family", "technique" or "format") set to its held-out value; ``technique``: printed in
    that technique (one of the trained ``TECHNIQUES``), whatever was drawn, except for the 5 x 7
    matrix font, which is always inkjet; ``family``: in that family, whatever was drawn."""
    families = [f for f in FAMILIES if f != HELD_OUT["family"]]
    family = family or (HELD_OUT["family"] if held_out == "family" else families[int(rng.integers(len(families)))])
    if family == "matrix-5x7":
        drawn = "inkjet"
    elif held_out == "technique":
        drawn = HELD_OUT["technique"]
    else:
        choices = [t for t in TECHNIQUES if t != HELD_OUT["technique"]]
        drawn = choices[int(rng.choice(len(choices), p=[0.45, 0.25, 0.15, 0.15]))]
    if technique and family != "matrix-5x7":
        drawn = technique
    surface_kind = "metal" if drawn == "engraved" and rng.random() < 0.7 else SURFACES[int(rng.integers(len(SURFACES)))]
    return Style(family, drawn, surface_kind, "")


def render(seed: int, index: int, held_out: Optional[str] = None, lines: Optional[List[str]] = None,
           technique: Optional[str] = None, family: Optional[str] = None) -> Crop:
    """Crop ``index`` of ``seed``: a code in a random style with a random margin around it;
    ``held_out``, ``technique`` and ``family`` as in ``random_style``; ``lines`` print instead
    of a drawn format."""
    rng = np.random.default_rng([seed, index, 7])
    style = random_style(rng, held_out, technique, family)
    if lines is None:
        name, lines = random_text(rng, held_out == "format")
    else:
        name = "given"
    style = style._replace(format=name)
    mask = text_mask(rng, style, lines)
    mh, mw = mask.shape
    line_h = mh / len(lines)
    margin = (int(rng.uniform(0.1, 0.5) * line_h + rng.uniform(0, 0.3) * mw), int(rng.uniform(0.2, 1.2) * line_h),
              int(rng.uniform(0.1, 0.5) * line_h + rng.uniform(0, 0.3) * mw), int(rng.uniform(0.2, 1.2) * line_h))
    image = printed(rng, style, mask, margin)
    boxes = [(x0 + margin[0], y0 + margin[1], x1 + margin[0], y1 + margin[1]) for x0, y0, x1, y1 in
             line_boxes(mask, len(lines))]
    image, boxes = _tilt(rng, image, boxes, max(len(line) for line in lines))
    return Crop(camera(rng, image), boxes, lines, style)
