"""Synthetic industrial product codes: full frames with a printed code and its box.

The method follows the user's references: vary fonts, sizes, positions, character gaps,
aspect ratios, text and background colours, background textures and brightness; add partial
specular highlights, partial defocus blur and camera noise on random areas. Codes follow
realistic grammars (production/expiry dates, lot numbers, serials, multi-line labels).

Deterministic: sample ``i`` of seed ``s`` depends only on ``(s, i)`` and on the pinned
versions of numpy, OpenCV, Pillow and the Debian fonts, so the same seed gives
byte-identical JPEG files. Host-side tool (needs the fonts); the benchmark reads the files.

    python -m synth.frames --out datasets/synth-codes --seed 20240801 --count 200
"""
import argparse
import csv
import os
from typing import List, NamedTuple, Optional, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FRAME_W, FRAME_H = 640, 480
BOX_MARGIN = 6
JPEG_QUALITY = 90
WARMUP_INDEX = 1000000  # the warm-up image's index: never inside a generated set

FONT_ROOT = "/usr/share/fonts"
# (file under FONT_ROOT, weight, dot-matrix allowed): printed-code typefaces first.
FONTS = [
    ("truetype/dejavu/DejaVuSansMono-Bold.ttf", 3, True),
    ("truetype/dejavu/DejaVuSansMono.ttf", 2, True),
    ("truetype/dejavu/DejaVuSans-Bold.ttf", 2, True),
    ("truetype/liberation2/LiberationMono-Bold.ttf", 2, True),
    ("truetype/liberation2/LiberationMono-Regular.ttf", 1, False),
    ("truetype/liberation2/LiberationSans-Bold.ttf", 2, True),
    ("truetype/ocr-a/OCRA.ttf", 2, False),
    ("opentype/ocr-b/OCRB.otf", 2, False),
    ("truetype/dseg/DSEG14Classic-Bold.ttf", 1, False),
]
CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ:/-., "

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


Box = Tuple[int, int, int, int]  # x, y, w, h in pixels


class Sample(NamedTuple):
    """One generated frame: RGB pixels, the code (lines joined by a space), its box, and
    each line's own box (for training a detector)."""

    image: np.ndarray
    text: str
    box: Box
    lines: List[Tuple[Box, str]]


# ---------------------------------------------------------------- code grammars
def _pick(rng: np.random.Generator, chars: str, n: int) -> str:
    return "".join(chars[i] for i in rng.integers(0, len(chars), n))


def _mm(rng) -> str:
    return "%02d" % rng.integers(1, 13)


def _dd(rng) -> str:
    return "%02d" % rng.integers(1, 29)


def _yyyy(rng) -> int:
    return int(rng.integers(2019, 2031))


def _pro_exp_lot(rng) -> List[str]:
    """The user's example: PRO:08/2022EXP:08/2023L2215029520H02:05."""
    year = _yyyy(rng)
    return ["PRO:%s/%dEXP:%s/%dL%sH%02d:%02d" % (
        _mm(rng), year, _mm(rng), year + int(rng.integers(1, 4)), _pick(rng, DIGITS, 10),
        rng.integers(0, 24), rng.integers(0, 60))]


def _lot(rng) -> List[str]:
    forms = [
        lambda: "LOT " + _pick(rng, DIGITS, 10),
        lambda: "LOT:" + _pick(rng, UPPER, 1) + _pick(rng, DIGITS, int(rng.integers(5, 9))),
        lambda: "L%s %02d:%02d" % (_pick(rng, DIGITS, 4), rng.integers(0, 24), rng.integers(0, 60)),
        lambda: "BATCH " + _pick(rng, UPPER, 2) + "-" + _pick(rng, DIGITS, 6),
    ]
    return [forms[int(rng.integers(len(forms)))]()]


def _expiry(rng) -> List[str]:
    year = _yyyy(rng)
    forms = [
        lambda: "EXP:%s/%d" % (_mm(rng), year),
        lambda: "EXP %s/%02d" % (_mm(rng), year % 100),
        lambda: "BB %s.%s.%d" % (_dd(rng), _mm(rng), year),
        lambda: "MFG:%s/%s/%02d" % (_dd(rng), _mm(rng), year % 100),
    ]
    return [forms[int(rng.integers(len(forms)))]()]


def _serial(rng) -> List[str]:
    body = _pick(rng, DIGITS + UPPER, int(rng.integers(8, 15)))
    return [("SN " + body) if rng.random() < 0.25 else body]


def _multiline(rng) -> List[str]:
    parts = [_lot, _expiry, _serial]
    order = rng.permutation(len(parts))[: int(rng.integers(2, 4))]
    return [parts[i](rng)[0] for i in order]


GRAMMARS = [(_pro_exp_lot, 0.25), (_lot, 0.15), (_expiry, 0.15), (_serial, 0.2), (_multiline, 0.25)]


def random_code(rng: np.random.Generator) -> List[str]:
    """Lines of one label, drawn from the grammars above."""
    weights = np.array([w for _, w in GRAMMARS])
    grammar = GRAMMARS[int(rng.choice(len(GRAMMARS), p=weights / weights.sum()))][0]
    return grammar(rng)


# ---------------------------------------------------------------- rendering
def _text_mask(rng, lines: List[str]) -> np.ndarray:
    """Render the lines as a float alpha mask in [0, 1], tightly cropped."""
    weights = np.array([w for _, w, _ in FONTS], dtype=float)
    path, _, dots_ok = FONTS[int(rng.choice(len(FONTS), p=weights / weights.sum()))]
    longest = max(len(line) for line in lines)
    size = int(rng.integers(18, 34)) if longest < 24 else int(rng.integers(15, 22))
    font = ImageFont.truetype(os.path.join(FONT_ROOT, path), size)
    gap = float(rng.uniform(-0.04, 0.3)) * size
    line_step = int(size * rng.uniform(1.15, 1.5))
    width = int(sum(font.getlength(c) + gap for c in max(lines, key=len)) + 4 * size)
    canvas = Image.new("L", (width, line_step * len(lines) + 2 * size), 0)
    draw = ImageDraw.Draw(canvas)
    for row, line in enumerate(lines):
        x = float(size)
        for char in line:
            draw.text((x, size + row * line_step), char, fill=255, font=font)
            x += font.getlength(char) + gap
    mask = np.asarray(canvas, dtype=np.float32) / 255.0
    ys, xs = np.nonzero(mask > 0.05)
    mask = mask[ys.min(): ys.max() + 1, xs.min(): xs.max() + 1]
    aspect = float(rng.uniform(0.75, 1.35))
    mask = cv2.resize(mask, (max(1, int(mask.shape[1] * aspect)), mask.shape[0]),
                      interpolation=cv2.INTER_AREA)
    if dots_ok and rng.random() < 0.3:
        mask = _dot_matrix(mask, pitch=max(3, size // 7))
    return mask


def _dot_matrix(mask: np.ndarray, pitch: int) -> np.ndarray:
    """Continuous-inkjet look: the glyphs sampled on a grid and printed as round dots."""
    h, w = mask.shape
    cells = cv2.resize(mask, (max(1, w // pitch), max(1, h // pitch)), interpolation=cv2.INTER_AREA)
    out = np.zeros_like(mask)
    radius = max(1, int(round(pitch * 0.45)))
    for cy, cx in zip(*np.nonzero(cells > 0.35)):
        cv2.circle(out, (int(cx * pitch + pitch // 2), int(cy * pitch + pitch // 2)), radius, 1.0, -1)
    return out


def _line_boxes(mask: np.ndarray, x: int, y: int, lines: List[str]) -> List[Tuple[Box, str]]:
    """Each line's tight box in the frame, from the ink's rows (dot-matrix rows are merged);
    if the ink does not split into as many bands as lines, equal bands."""
    ink = mask > 0.3
    rows = np.nonzero(ink.any(axis=1))[0]
    bands = np.split(rows, np.nonzero(np.diff(rows) > max(2, 0.15 * mask.shape[0] / len(lines)))[0] + 1)
    if len(bands) != len(lines):
        edges = np.linspace(0, mask.shape[0], len(lines) + 1).astype(int)
        bands = [np.arange(a, b) for a, b in zip(edges[:-1], edges[1:])]
    out = []
    for band, text in zip(bands, lines):
        cols = np.nonzero(ink[band].any(axis=0))[0]
        if cols.size == 0:
            cols = np.arange(mask.shape[1])
        out.append(((x + int(cols[0]), y + int(band[0]), int(cols[-1] - cols[0] + 1), int(band[-1] - band[0] + 1)), text))
    return out


def _background(rng, h: int, w: int) -> np.ndarray:
    """A textured surface (flat, paper, brushed metal, mottled plastic) as float RGB."""
    palette = np.array([[0.93, 0.92, 0.88], [0.80, 0.66, 0.48], [0.62, 0.64, 0.66],
                        [0.20, 0.35, 0.65], [0.70, 0.15, 0.15], [0.12, 0.12, 0.13],
                        [0.95, 0.95, 0.95], [0.25, 0.50, 0.30]], dtype=np.float32)
    base = palette[int(rng.integers(len(palette)))] * rng.uniform(0.85, 1.1, 3).astype(np.float32)
    kind = int(rng.integers(4))
    noise = rng.standard_normal((h, w)).astype(np.float32)
    if kind == 1:  # paper / cardboard speckle
        tex = cv2.GaussianBlur(noise, (0, 0), 1.2) * 0.05
    elif kind == 2:  # brushed metal: streaks along x
        tex = cv2.blur(noise, (61, 1)) * 0.25
    elif kind == 3:  # mottled plastic: smooth low-frequency blobs
        low = rng.standard_normal((h // 40 + 2, w // 40 + 2)).astype(np.float32)
        tex = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC) * 0.05
    else:
        tex = np.zeros((h, w), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    gradient = ((xx / w - 0.5) * np.cos(angle) + (yy / h - 0.5) * np.sin(angle)) * rng.uniform(0, 0.3)
    return np.clip(base[None, None, :] * (1 + gradient[..., None]) + tex[..., None], 0, 1)


def _soft_region(rng, h: int, w: int, near: Tuple[int, int, int, int]) -> np.ndarray:
    """A soft elliptical weight map centred somewhere on or near the code's box."""
    x, y, bw, bh = near
    cx = rng.uniform(x - 0.2 * bw, x + 1.2 * bw)
    cy = rng.uniform(y - 0.5 * bh, y + 1.5 * bh)
    rx = rng.uniform(0.15, 0.6) * bw + 10
    ry = rng.uniform(0.5, 2.0) * bh + 10
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)).astype(np.float32)


def render(seed: int, index: int, lines: Optional[List[str]] = None) -> Sample:
    """Generate frame ``index`` of ``seed``: a code printed on a surface, photographed;
    ``lines``, when given, are printed instead of a code drawn from the grammars."""
    rng = np.random.default_rng([seed, index])
    lines = random_code(rng) if lines is None else lines
    mask = _text_mask(rng, lines)
    h, w = FRAME_H, FRAME_W
    if mask.shape[1] > w - 2 * BOX_MARGIN - 4:  # too wide for the frame: shrink it
        scale = (w - 2 * BOX_MARGIN - 4) / mask.shape[1]
        mask = cv2.resize(mask, (int(mask.shape[1] * scale), max(1, int(mask.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    mh, mw = mask.shape
    x = int(rng.integers(BOX_MARGIN + 2, w - mw - BOX_MARGIN - 1))
    y = int(rng.integers(BOX_MARGIN + 2, h - mh - BOX_MARGIN - 1))

    image = _background(rng, h, w)
    luminance = float(image[y:y + mh, x:x + mw].mean())
    ink = rng.uniform(0.0, 0.18, 3) if luminance > 0.45 else rng.uniform(0.82, 1.0, 3)
    alpha = np.zeros((h, w), np.float32)
    alpha[y:y + mh, x:x + mw] = mask * rng.uniform(0.75, 1.0)
    image = image * (1 - alpha[..., None]) + ink.astype(np.float32)[None, None, :] * alpha[..., None]

    box = (x - BOX_MARGIN, y - BOX_MARGIN, mw + 2 * BOX_MARGIN, mh + 2 * BOX_MARGIN)
    if rng.random() < 0.5:  # partial defocus blur
        blurred = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 2.0))
        weight = _soft_region(rng, h, w, box)[..., None]
        image = image * (1 - weight) + blurred * weight
    if rng.random() < 0.5:  # partial specular highlight
        image = image + _soft_region(rng, h, w, box)[..., None] * rng.uniform(0.3, 0.8)
    image = image * rng.uniform(0.6, 1.25)  # exposure
    if rng.random() < 0.7:  # camera noise, stronger in one area
        sigma = rng.uniform(0.01, 0.04) * (1 + 2 * _soft_region(rng, h, w, box))
        image = image + rng.standard_normal((h, w, 1)).astype(np.float32) * sigma[..., None]
    pixels = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Sample(pixels, " ".join(lines), box, _line_boxes(mask, x, y, lines))


def _write_manifest(path: str, rows: List[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["image", "text", "x", "y", "w", "h", "split"])
        writer.writerows(rows)


def _write_frame(out: str, name: str, seed: int, index: int, split: str) -> list:
    sample = render(seed, index)
    Image.fromarray(sample.image).save(os.path.join(out, name), "JPEG", quality=JPEG_QUALITY)
    return [name, sample.text] + list(sample.box) + [split]


def write_dataset(out: str, seed: int, count: int, start: int = 0) -> str:
    """Write ``count`` frames with ``manifest.csv``, and a warm-up frame outside the set with
    its own one-row ``warmup.csv``; return the manifest's path."""
    os.makedirs(os.path.join(out, "img"), exist_ok=True)
    rows = [_write_frame(out, "img/%06d.jpg" % i, seed, i, "test") for i in range(start, start + count)]
    _write_manifest(os.path.join(out, "warmup.csv"),
                    [_write_frame(out, "warmup.jpg", seed, WARMUP_INDEX, "warmup")])
    manifest = os.path.join(out, "manifest.csv")
    _write_manifest(manifest, rows)
    return manifest


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="dataset folder to write")
    parser.add_argument("--seed", type=int, default=20240801)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--start", type=int, default=0, help="first index (disjoint sets)")
    args = parser.parse_args(argv)
    print(write_dataset(args.out, args.seed, args.count, args.start))


if __name__ == "__main__":
    main()
