"""Inputs for the model: a code region on a fixed grey canvas, for training (from the
project's generator, with augmentation) and for inference (a crop, or a frame region).

The canvas is CANVAS_H x CANVAS_W; the region is scaled to fit it, keeping its aspect ratio
(at most 3x up), and placed at the top left (at a random offset when training); the rest
is filled with the region's median grey. A line crop cut at its print (``for_reading``)
gets a margin of its median grey around it, as lines had in training: 124 of 300 photo-like
crops read instead of 114 without it (docs/our-reader.md, "How it reads"). For reading, the canvas is
then cut down to the region with at least ``FIT_MARGIN`` of that grey to spare, in multiples
of ``FIT_MULTIPLE`` (the detector is convolutional): a single line does not pay the detector
for 128 rows of grey.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from models.fots import grey, orient
from models.fots.spec import SHRINK

CANVAS_H, CANVAS_W = 128, 512
MAX_UPSCALE = 3.0
TRAIN_SEED = 20240801  # the generator's seed; training indices never overlap the benchmark's
TRAIN_START = 10000  # first training index (the embedded set is 0-199)
VALID_START = 5000  # 5000-5999: validation, disjoint from both
VALID_FRAMES = 1000
LINE_MARGIN = 0.15  # free canvas around a line crop, in the crop's heights
FIT_MARGIN = 16  # canvas pixels of grey kept right of and below the region when the canvas is fitted
FIT_MULTIPLE = 32  # a fitted canvas's sides are multiples of the backbone's stride


class Canvas(NamedTuple):
    image: np.ndarray  # (CANVAS_H, CANVAS_W), or smaller when fitted, float32 in [0, 1]
    scale: float  # canvas pixels per source pixel
    offset: Tuple[float, float]  # where the source's (0, 0) lies on the canvas
    source: Optional[np.ndarray] = None  # the grey uint8 source, whose pixels the line recogniser reads
    pad: int = 0  # pixels of margin ``source`` has around the image it was made from
    fill: float = 0.0  # the grey of the canvas around the region, in [0, 1]
    turn: Optional[np.ndarray] = None  # 2 x 3: the image's pixels to those of the turned image ``source`` holds
    angle: float = 0.0  # degrees the image was turned (counter-clockwise) before it was placed
    original: Optional[np.ndarray] = None  # the image before it was turned, to read it another way up
    fit: bool = False  # cut down to the region (``fitted_side``)


def fitted_side(extent: float, full: int) -> int:
    """A fitted canvas's side: ``extent`` and ``FIT_MARGIN`` rounded up to ``FIT_MULTIPLE``, at most ``full``."""
    return int(min(full, -(-(extent + FIT_MARGIN) // FIT_MULTIPLE) * FIT_MULTIPLE))


def to_canvas(gray: np.ndarray, offset_xy: Tuple[float, float] = (0.0, 0.0), margin: float = 0.0,
              fit: bool = False) -> Canvas:
    """Fit a grey uint8 image onto the canvas, with ``margin`` of its height of its median
    grey added around it first (the canvas's ``source`` and ``pad``); with ``fit``, a canvas
    cut down to the image (``fitted_side``)."""
    pad, fill = int(round(margin * gray.shape[0])), grey.median(gray)
    if pad:  # its median grey around it: the median stays the canvas's fill
        gray = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=fill)
    h, w = gray.shape[:2]
    scale = min(CANVAS_W / w, CANVAS_H / h, MAX_UPSCALE)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    resized = cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    ox = int(min(offset_xy[0], CANVAS_W - nw))
    oy = int(min(offset_xy[1], CANVAS_H - nh))
    shape = (fitted_side(oy + nh, CANVAS_H), fitted_side(ox + nw, CANVAS_W)) if fit else (CANVAS_H, CANVAS_W)
    canvas = np.full(shape, fill, np.float32)
    canvas[oy:oy + nh, ox:ox + nw] = resized
    return Canvas(canvas / 255.0, scale, (float(ox), float(oy)), gray, pad, fill / 255.0, fit=fit)


def for_reading(gray: np.ndarray, fit: bool = True, angle: float = 0.0) -> Canvas:
    """The canvas an image is read from: the image turned counter-clockwise by ``angle``
    degrees (models/fots/orient.py; not at all within ``orient.MIN_TURN`` of 0) so that its
    lines run left to right, then a line crop (at least twice as wide as high, likely cut at
    its print) with ``LINE_MARGIN`` around it, any other image as it is; fitted to the image
    unless ``fit`` is False (a TensorRT engine built for the full canvas)."""
    turn, source = None, gray
    if abs(angle) >= orient.MIN_TURN:  # text_angle's [-90, 90), or 180 more to turn a canvas over
        plain = orient.plain_fill(gray)  # a crop turned on a plain fill: turned back, then cut out of it
        source, turn = orient.turned(gray, angle, plain)
        if plain is not None:
            source, turn = orient.trimmed(source, turn, plain)
        else:  # or on its own edges repeated outward
            source, turn = orient.unstreaked(source, turn, gray.shape[:2])
    canvas = to_canvas(source, margin=LINE_MARGIN if source.shape[1] >= 2 * source.shape[0] else 0.0, fit=fit)
    return canvas._replace(turn=turn, angle=float(angle), original=gray)


def turned_over(canvas: Canvas) -> Canvas:
    """The canvas of ``for_reading`` made again with its image turned by 180 degrees more."""
    return for_reading(canvas.original, canvas.fit, canvas.angle + 180.0)


def stacked(canvases: Sequence[Canvas]) -> np.ndarray:
    """(N, 1, H, W) float32 of canvases of any sizes, each extended with its own grey to the largest."""
    h, w = max(c.image.shape[0] for c in canvases), max(c.image.shape[1] for c in canvases)
    out = np.empty((len(canvases), 1, h, w), np.float32)
    for k, c in enumerate(canvases):
        out[k, 0] = c.fill
        out[k, 0, :c.image.shape[0], :c.image.shape[1]] = c.image
    return out


class TrainingSample(NamedTuple):
    image: np.ndarray  # (CANVAS_H, CANVAS_W) float32
    boxes: List[Tuple[float, float, float, float]]  # each line, x0 y0 x1 y1 on the canvas
    texts: List[str]
    style: Optional[tuple] = None  # printing.Style of a printing-style frame
    canvas: Optional[Canvas] = None  # the canvas with its source, for recognisers reading the lines' pixels


def training_sample(index: int, seed: int = TRAIN_SEED, random_lines: float = 0.0,
                    styles: float = 0.0, held_out: Optional[str] = None) -> TrainingSample:
    """Training frame ``index``: with probability ``styles`` a crop from the printing-style
    generator (synth/printing.py; ``held_out`` as its ``render`` takes it), else a
    frame of the benchmark's generator cropped around its code with a random context
    margin; randomly placed on the canvas. With probability ``random_lines`` the code is a
    random line of code characters (synth.lines.random_line) instead. Deterministic in its arguments."""
    from synth import printing
    from synth.frames import render
    from synth.lines import random_line

    text_rng = np.random.default_rng([seed, index, 3])
    lines = [random_line(text_rng)] if text_rng.random() < random_lines else None
    rng = np.random.default_rng([seed, index, 1])
    if held_out or np.random.default_rng([seed, index, 4]).random() < styles:
        crop = printing.render(seed, index, held_out, lines)
        return placed(rng, crop.image, crop.boxes, crop.texts)._replace(style=crop.style)
    sample = render(seed, index, lines)
    gray = cv2.cvtColor(sample.image, cv2.COLOR_RGB2GRAY)
    x, y, w, h = sample.box
    fh, fw = gray.shape
    mx0, mx1 = rng.uniform(0.0, 0.4, 2) * w
    my0, my1 = rng.uniform(0.0, 0.8, 2) * h
    x0, y0 = int(max(0, x - mx0)), int(max(0, y - my0))
    x1, y1 = int(min(fw, x + w + mx1)), int(min(fh, y + h + my1))
    boxes = [(lx - x0, ly - y0, lx - x0 + lw, ly - y0 + lh) for (lx, ly, lw, lh), _ in sample.lines]
    return placed(rng, gray[y0:y1, x0:x1], boxes, [text for _, text in sample.lines])


def placed(rng: np.random.Generator, crop: np.ndarray, boxes, texts: List[str]) -> TrainingSample:
    """A grey crop on the canvas at a random offset, with its line boxes (x0, y0, x1, y1 in
    the crop's pixels) moved onto the canvas."""
    scale = min(CANVAS_W / crop.shape[1], CANVAS_H / crop.shape[0], MAX_UPSCALE)
    free_x = max(0.0, CANVAS_W - crop.shape[1] * scale)
    free_y = max(0.0, CANVAS_H - crop.shape[0] * scale)
    canvas = to_canvas(crop, (rng.uniform(0, free_x), rng.uniform(0, free_y)))
    ox, oy = canvas.offset
    moved = [(bx0 * canvas.scale + ox, by0 * canvas.scale + oy, bx1 * canvas.scale + ox, by1 * canvas.scale + oy)
             for bx0, by0, bx1, by1 in boxes]
    return TrainingSample(canvas.image, moved, list(texts), canvas=canvas)


def targets(boxes: List[Tuple[float, float, float, float]], stride: int = 4,
            shrink: float = SHRINK) -> Tuple[np.ndarray, np.ndarray]:
    """Score map (1 inside each line's box, shrunk by ``shrink`` of its height on every side)
    and distances from each cell centre to the box's top, bottom, left and right."""
    h, w = CANVAS_H // stride, CANVAS_W // stride
    score = np.zeros((1, h, w), np.float32)
    geometry = np.zeros((4, h, w), np.float32)
    ys = (np.arange(h) + 0.5) * stride
    xs = (np.arange(w) + 0.5) * stride
    for x0, y0, x1, y1 in sorted(boxes, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):  # small boxes win
        pad = shrink * (y1 - y0)
        rows = np.nonzero((ys >= y0 + pad) & (ys <= y1 - pad))[0]
        cols = np.nonzero((xs >= x0 + pad) & (xs <= x1 - pad))[0]
        if rows.size == 0:  # a very flat line: its middle row
            rows = np.array([min(h - 1, int((y0 + y1) / 2 / stride))])
        if cols.size == 0:
            continue
        r, c = np.meshgrid(rows, cols, indexing="ij")
        score[0, r, c] = 1.0
        geometry[0, r, c] = ys[r] - y0
        geometry[1, r, c] = y1 - ys[r]
        geometry[2, r, c] = xs[c] - x0
        geometry[3, r, c] = x1 - xs[c]
    return score, geometry
