"""Which way a crop's text runs, and the crop turned so that it runs left to right.

A hand-held photo turns a code by tens of degrees; the reader's detector finds horizontal
lines, and its recogniser reads a line cut out along them. ``text_angle`` finds the angle
from the image alone, as document deskewing does: the crop's edges (gradient magnitude,
whatever the print's polarity) are projected on rows at each candidate angle, and the angle
at which the projection is most concentrated (the largest sum of squares: all of a line's
edges on few rows) is the lines' direction. Candidates cover [-90, 90) degrees, coarse then
fine; a projection does not tell a line from the same line upside down, which the reader
settles by reading the crop both ways when its reading is unsure (adapters/fots.py).

``turned`` turns a grey image by an angle on a canvas that holds all of it, filled with its
median grey, and returns the affine matrix from the image's pixels to the turned ones, so
that boxes found on the turned image map back (``to_source``).

Device side (Python 3.6): numpy and OpenCV only.
"""
from typing import Tuple

import cv2
import numpy as np

from models.fots import grey

SIDE = 96  # the long side of the image the angle is measured on
COARSE, FINE = 3.0, 0.5  # degrees between candidates: over [-90, 90), then around the best
MIN_TURN = 2.0  # an angle closer to 0 than this: the image is read as it is


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
                       interpolation=cv2.INTER_AREA).astype(np.float32)
    edges = cv2.magnitude(cv2.Sobel(small, cv2.CV_32F, 1, 0), cv2.Sobel(small, cv2.CV_32F, 0, 1))
    if not edges.any():
        return 0.0
    coarse = np.arange(-90.0, 90.0, COARSE)
    best = float(coarse[int(np.argmax(_concentration(edges, coarse)))])
    fine = best + np.arange(-COARSE, COARSE + FINE / 2, FINE)
    angle = float(fine[int(np.argmax(_concentration(edges, fine)))])
    return (angle + 90.0) % 180.0 - 90.0


def turned(gray: np.ndarray, angle: float) -> Tuple[np.ndarray, np.ndarray]:
    """``gray`` turned counter-clockwise by ``angle`` degrees on a canvas that holds all of
    it (the corners filled with its median grey), and the 2 x 3 matrix from ``gray``'s pixels
    to the turned image's."""
    h, w = gray.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), float(angle), 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin))
    matrix[:, 2] += (nw - w) / 2.0, (nh - h) / 2.0
    out = cv2.warpAffine(gray, matrix, (max(1, nw), max(1, nh)), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=grey.median(gray))
    return out, matrix


def to_source(box, matrix: np.ndarray) -> Tuple[float, float, float, float]:
    """A box (x0, y0, x1, y1) on a turned image as the axis-aligned box around it in the
    pixels of the image it was turned from (``matrix`` from ``turned``)."""
    x0, y0, x1, y1 = box
    back = cv2.invertAffineTransform(matrix)
    corners = cv2.transform(np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float64), back)[0]
    return (float(corners[:, 0].min()), float(corners[:, 1].min()), float(corners[:, 0].max()),
            float(corners[:, 1].max()))
