"""Which way a crop's text runs, and the crop turned so that it runs left to right.

A hand-held photo turns a code by tens of degrees; the reader's detector finds horizontal
lines, and its recogniser reads a line cut out along them. ``text_angle`` finds the angle
from the image alone, as document deskewing does: the crop's edges (gradient magnitude,
whatever the print's polarity) are projected on rows at each candidate angle, and the angle
at which the projection is most concentrated (the largest sum of squares: all of a line's
edges on few rows) is the lines' direction. Candidates cover [-90, 90) degrees, coarse then
fine; a projection does not tell a line from the same line upside down, which the upright
network settles after detection (models/fots/upright.py, ``reader.detect_upright``).

``turned`` turns a grey image by an angle on a canvas that holds all of it, filled with its
median grey (or the plain grey of its border: ``plain_fill``), and returns the affine
matrix from the image's pixels to the turned ones, so that boxes found on the turned image
map back (``to_source``). ``trimmed`` cuts a crop that came rotated on a plain fill out of
that fill again once it is level; ``text_angle`` leaves such a picture's outline out
(``picture_fill``).

Device side (Python 3.6): numpy and OpenCV only.
"""
from typing import Optional, Tuple

import cv2
import numpy as np

from models.fots import grey

SIDE = 96  # the long side of the image the angle is measured on
COARSE, FINE = 3.0, 0.5  # degrees between candidates: over [-90, 90), then around the best
MIN_TURN = 2.0  # an angle closer to 0 than this: the image is read as it is
EDGE_BORDER = 2  # pixels along the shrunk image's sides whose edges ``text_angle`` leaves out
PLAIN_BORDER = 8.0  # grey levels between the 10th and 90th percentiles of a plain border (``plain_fill``)
TRIM_TOLERANCE = 6  # grey levels from the fill that count as fill (``trimmed``; JPEG's noise on a plain area)
TRIM_LEAST = 0.15  # share of a turned image the fill must hold to be cut off
PICTURE = 0.9  # share of its turned rectangle a picture fills (``picture_fill``)
PICTURE_SIDE = 28  # pixels of its shorter side, at least, for its print to tell its angle without its outline
TRIM_RING = 2  # pixels beyond the fill taken with it: the ring two turns blend of fill and crop
STREAK_STEP = 6  # grey levels between neighbours that count as a change (``unstreaked``)
STREAK_LEAST = 3  # changes a column (row) must hold to be part of the crop rather than a streak
STREAK_DENSITY = 0.02  # share of the pixels cut off that change: streaks, not a plain margin


def _concentration(edges: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """For each angle, the sum of squares of the row projection of ``edges`` turned by it
    (OpenCV's sense): the edge pixels above their mean, each binned at its turned row
    ``y cos a - x sin a``, all angles in one histogram."""
    ys, xs = np.nonzero(edges > edges.mean())
    weights = edges[ys, xs].astype(np.float64)
    theta = np.radians(angles)[:, None]
    rows = ys[None, :] * np.cos(theta) - xs[None, :] * np.sin(theta)  # (angles, pixels)
    rows = np.floor(rows - rows.min()).astype(np.int64)
    bins = int(rows.max()) + 1
    sums = np.bincount((rows + bins * np.arange(len(angles))[:, None]).ravel(), np.tile(weights, len(angles)),
                       bins * len(angles)).reshape(len(angles), bins)
    return (sums * sums).sum(axis=1)


def text_angle(gray: np.ndarray) -> float:
    """The angle in degrees, in [-90, 90), by which ``gray`` is turned counter-clockwise
    (OpenCV's sense) to bring its text lines to horizontal; 0 for an image too small or
    plain to tell."""
    h, w = gray.shape[:2]
    if min(h, w) < 8:
        return 0.0
    scale = min(1.0, SIDE / float(max(h, w)))
    small = cv2.resize(gray, (max(8, int(round(w * scale))), max(8, int(round(h * scale)))),
                       interpolation=cv2.INTER_AREA)
    edges = cv2.magnitude(cv2.Sobel(small, cv2.CV_32F, 1, 0), cv2.Sobel(small, cv2.CV_32F, 0, 1))
    if min(edges.shape) >= 4 * EDGE_BORDER:  # the image's own edge: a sliver of fill a turn left, a cut
        edges[:EDGE_BORDER], edges[-EDGE_BORDER:], edges[:, :EDGE_BORDER], edges[:, -EDGE_BORDER:] = 0, 0, 0, 0
    outside = picture_fill(small)
    if outside is not None:  # a picture turned on a plain fill: its outline is no line of text
        edges[cv2.dilate(outside, np.ones((3, 3), np.uint8)) > 0] = 0
    if not edges.any():
        return 0.0
    coarse = np.arange(-90.0, 90.0, COARSE)
    best = float(coarse[int(np.argmax(_concentration(edges, coarse)))])
    fine = best + np.arange(-COARSE, COARSE + FINE / 2, FINE)
    angle = float(fine[int(np.argmax(_concentration(edges, fine)))])
    return (angle + 90.0) % 180.0 - 90.0


def plain_fill(gray: np.ndarray) -> Optional[float]:
    """The grey of an image's outermost rows and columns where they are plain (most of them
    within ``PLAIN_BORDER`` levels): an image that is itself a crop turned on a plain fill (a
    rotated picture's background), or print on a plain ground; None for a photograph."""
    edge = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])[None, :]
    lo, mid, hi = grey.percentiles(edge, (10, 50, 90))
    return mid if hi - lo <= PLAIN_BORDER else None


def turned(gray: np.ndarray, angle: float, fill: Optional[float] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``gray`` turned counter-clockwise by ``angle`` degrees on a canvas that holds all of
    it, and the 2 x 3 matrix from ``gray``'s pixels to the turned image's. The corners are
    filled with ``fill``, by default its median grey."""
    h, w = gray.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), float(angle), 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    matrix[:, 2] += (nw - w) / 2.0, (nh - h) / 2.0
    out = cv2.warpAffine(gray, matrix, (max(1, nw), max(1, nh)), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=grey.median(gray) if fill is None else fill)
    return out, matrix


def _cut(level: np.ndarray, matrix: np.ndarray, x0: int, y0: int, x1: int,
         y1: int) -> Tuple[np.ndarray, np.ndarray]:
    """``level[y0:y1, x0:x1]`` and the matrix to it from the pixels ``matrix`` maps from."""
    moved = matrix.copy()
    moved[:, 2] -= (x0, y0)
    return level[y0:y1, x0:x1], moved


def fill_mask(gray: np.ndarray, fill: float) -> np.ndarray:
    """1 where ``gray`` (uint8) is plain ``fill`` (within ``TRIM_TOLERANCE``) reaching one of
    its corners, else 0."""
    h, w = gray.shape[:2]
    mask = np.zeros((h + 2, w + 2), np.uint8)
    flags = 4 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (1 << 8)
    for x, y in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)):
        if not mask[y + 1, x + 1] and abs(float(gray[y, x]) - fill) <= TRIM_TOLERANCE:
            cv2.floodFill(gray, mask, (x, y), 0, TRIM_TOLERANCE, TRIM_TOLERANCE, flags)
    return mask[1:-1, 1:-1]


def picture_fill(gray: np.ndarray) -> Optional[np.ndarray]:
    """Where ``gray`` is a picture turned on a plain fill (a photograph rotated in an editor):
    ``fill_mask`` of that fill, else None. The picture is what is not fill, a solid
    quadrilateral (``PICTURE`` of the smallest turned rectangle around it) at least
    ``PICTURE_SIDE`` across (in a smaller one, the outline tells its angle better than the
    little print); print on a plain ground is not, the ground running between its characters."""
    fill = plain_fill(gray)
    if fill is None:
        return None
    mask = fill_mask(gray, fill)
    inside = np.argwhere(mask == 0)
    if len(inside) < 3 or not mask.any():
        return None
    (_, _), (a, b), _ = cv2.minAreaRect(inside[:, ::-1].astype(np.float32))
    return mask if len(inside) >= PICTURE * a * b and min(a, b) >= PICTURE_SIDE else None


def trimmed(level: np.ndarray, matrix: np.ndarray, fill: float) -> Tuple[np.ndarray, np.ndarray]:
    """A turned image (``turned`` with ``fill``, the plain grey of the image's border) cut
    down to the box around what is not that fill, and the matrix from the original image's
    pixels to the cut one's. A crop turned by tens of degrees (a rotated picture of a code,
    on a plain background) and turned back by the reader lies in an image that holds all of
    it, many times its height (a 37 x 472 crop turned by 30 degrees: 269 x 428, turned back:
    about 450 x 460), where its lines would take a fraction of the detector's canvas. The
    fill is what lies within ``TRIM_TOLERANCE`` of ``fill`` and reaches a corner: the
    wedges around the crop, level again, and its own ground where that is the fill's grey.
    A side of the box along the crop's edge (mostly no fill) loses ``TRIM_RING`` pixels more,
    the ring the two turns blended of fill and crop. Kept as it is where the fill is less
    than ``TRIM_LEAST`` of the image."""
    kept = fill_mask(level, fill) == 0
    if kept.mean() > 1.0 - TRIM_LEAST or not kept.any():
        return level, matrix
    rows, columns = np.nonzero(kept.any(axis=1))[0], np.nonzero(kept.any(axis=0))[0]
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(columns[0]), int(columns[-1]) + 1
    for _ in range(TRIM_RING):
        if y1 - y0 > 2 * TRIM_RING + 1 and kept[y0, x0:x1].mean() >= 0.5:
            y0 += 1
        if y1 - y0 > 2 * TRIM_RING + 1 and kept[y1 - 1, x0:x1].mean() >= 0.5:
            y1 -= 1
        if x1 - x0 > 2 * TRIM_RING + 1 and kept[y0:y1, x0].mean() >= 0.5:
            x0 += 1
        if x1 - x0 > 2 * TRIM_RING + 1 and kept[y0:y1, x1 - 1].mean() >= 0.5:
            x1 -= 1
    return _cut(level, matrix, x0, y0, x1, y1)


def unstreaked(level: np.ndarray, matrix: np.ndarray, shape: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """A turned image (``turned``) of an image ``shape`` (h, w) cut down to the columns that
    vary along its rows and the rows that vary along its columns, and the matrix from the
    original image's pixels to the cut one's. A crop rotated with its edges repeated outward
    (OpenCV's ``BORDER_REPLICATE``) and turned back level has streaks around it that run
    along its own axes: left and right of it each row is one grey, above and below each
    column; only the crop varies both ways. A photograph varies everywhere and is kept as it
    is, as is an image the cut would keep most of (``TRIM_LEAST``). Only the pixels that
    came from the image count (the turn's corners do not)."""
    inside = cv2.warpAffine(np.ones(shape, np.uint8), matrix, level.shape[::-1], flags=cv2.INTER_NEAREST)
    inside = cv2.erode(inside, np.ones((5, 5), np.uint8)) > 0
    grey16 = level.astype(np.int16)
    across = (np.abs(np.diff(grey16, axis=1)) > STREAK_STEP) & inside[:, 1:] & inside[:, :-1]
    down = (np.abs(np.diff(grey16, axis=0)) > STREAK_STEP) & inside[1:] & inside[:-1]
    columns = np.nonzero(across.sum(axis=0) >= STREAK_LEAST)[0]
    rows = np.nonzero(down.sum(axis=1) >= STREAK_LEAST)[0]
    if not len(columns) or not len(rows):
        return level, matrix
    y0, y1 = max(0, int(rows[0]) - TRIM_RING), min(level.shape[0], int(rows[-1]) + 2 + TRIM_RING)
    x0, x1 = max(0, int(columns[0]) - TRIM_RING), min(level.shape[1], int(columns[-1]) + 2 + TRIM_RING)
    if (y1 - y0) * (x1 - x0) > (1.0 - TRIM_LEAST) * inside.sum():
        return level, matrix
    changes = np.zeros(level.shape, bool)
    changes[:, 1:] |= across
    changes[1:] |= down
    away = inside.copy()
    away[y0:y1, x0:x1] = False
    if changes[away].mean() < STREAK_DENSITY:  # plain, not streaks: a photograph's blank margin
        return level, matrix
    return _cut(level, matrix, x0, y0, x1, y1)


def to_source(box, matrix: np.ndarray) -> Tuple[float, float, float, float]:
    """A box (x0, y0, x1, y1) on a turned image as the axis-aligned box around it in the
    pixels of the image it was turned from (``matrix`` from ``turned``)."""
    x0, y0, x1, y1 = box
    back = cv2.invertAffineTransform(matrix)
    corners = cv2.transform(np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float64), back)[0]
    return (float(corners[:, 0].min()), float(corners[:, 1].min()), float(corners[:, 0].max()),
            float(corners[:, 1].max()))
