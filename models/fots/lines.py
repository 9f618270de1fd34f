"""The reader's line recogniser: it reads each line the detector finds from the line's own
pixels in the source image, cut out at a fixed height, instead of from the detector's
shared stride-4 features. A line is a few dozen pixels high and up to a thousand wide; the
detector's canvas shrinks a long line to 512 pixels, while the source keeps every pixel.

- ``line_input``: a line's box in a grey image -> the recogniser's input, HEIGHT rows, the
  width following the line's aspect ratio (at most MAX_WIDTH), contrast stretched; the same
  function cuts training lines and inference lines.
- ``line_net.LineRecognizer`` (models/fots/line_net.py) reads them: a small CRNN (six 3 x 3 convolutions, four of them with stride 2,
  two in both directions and then two in height only, so that most of them run on few rows;
  a bidirectional LSTM; CTC over the reader's alphabet), a CTC step per 4 input columns, so a
  character of the usual width gets 4 to 5 steps (two equal characters need a blank between
  them). Strided convolutions instead of pooling after full-height ones: 1.9x the training
  steps per second on the 2-core CPU for the same weights (docs/our-reader.md). With
  ``fuse`` it also takes the detector's features of the line (RoIAlign to the same steps),
  the "both" variant of the ablation (the reader's model card).

Device side too (the adapter): Python 3.6, numpy and OpenCV only.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np

from models.fots import grey

HEIGHT = 32
STEP = 4  # input columns per CTC step
MIN_WIDTH, MAX_WIDTH = 32, 1024
CONTEXT_Y, CONTEXT_X = 0.12, 0.3  # surface kept around a line's box, in line heights, on each side
CHANNELS = (32, 64, 64, 64, 96, 96)


def line_input(gray: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The recogniser's input for the line ``box`` (x0, y0, x1, y1 in ``gray``'s pixels):
    the box with ``CONTEXT_*`` around it (the image's edge repeated where it ends), scaled to
    HEIGHT rows, float32 in [0, 1] with the darkest 2% black and the brightest 2% white."""
    x0, y0, x1, y1 = (float(v) for v in box)
    h = max(2.0, y1 - y0)
    x0, x1 = x0 - CONTEXT_X * h, x1 + CONTEXT_X * h
    y0, y1 = y0 - CONTEXT_Y * h, y1 + CONTEXT_Y * h
    c0, r0, c1, r1 = int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1))
    ih, iw = gray.shape[:2]
    region = gray[max(0, r0):max(0, min(ih, r1)), max(0, c0):max(0, min(iw, c1))]
    if region.size == 0:
        region = np.full((1, 1), 255, np.uint8)
    region = cv2.copyMakeBorder(region, max(0, -r0), max(0, r1 - ih), max(0, -c0), max(0, c1 - iw),
                                cv2.BORDER_REPLICATE)
    rh, rw = region.shape[:2]
    width = int(min(MAX_WIDTH, max(MIN_WIDTH, round(rw * HEIGHT / float(rh)))))
    width = (width + STEP - 1) // STEP * STEP
    out = cv2.resize(region, (width, HEIGHT), interpolation=cv2.INTER_AREA if rh > HEIGHT else cv2.INTER_LINEAR)
    lo, hi = grey.percentiles(out, (2, 98))
    out = (out.astype(np.float32) - np.float32(lo)) / np.float32(max(hi - lo, 8.0))
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def regions(boxes: np.ndarray, widths: Sequence[int], widest: int) -> np.ndarray:
    """For the ``both`` recogniser: the region of each line's input in the boxes' own
    coordinates (x0, y0, x1, y1 each; the detector's canvas): the box with CONTEXT_* around it,
    stretched to the right over the padding its line gets in a batch ``widest`` columns wide,
    so that the features' steps fall where the pixels' steps do."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    h = np.maximum(2.0, boxes[:, 3] - boxes[:, 1])
    x0, x1 = boxes[:, 0] - CONTEXT_X * h, boxes[:, 2] + CONTEXT_X * h
    y0, y1 = boxes[:, 1] - CONTEXT_Y * h, boxes[:, 3] + CONTEXT_Y * h
    x1 = x0 + (x1 - x0) * float(widest) / np.asarray(widths, np.float32)
    return np.stack([x0, y0, x1, y1], 1)


def batch(inputs: Sequence[np.ndarray], multiple: int = STEP) -> Tuple[np.ndarray, np.ndarray]:
    """Lines of several widths as one (N, 1, HEIGHT, widest) array, each padded on the right
    with its own last column, and each line's number of CTC steps; ``multiple``: the width
    rounded up to a multiple of it (training: fewer distinct shapes for the kernels' caches)."""
    widest = -(-max(x.shape[1] for x in inputs) // multiple) * multiple
    out = np.empty((len(inputs), 1, HEIGHT, widest), np.float32)
    for i, x in enumerate(inputs):
        out[i, 0, :, :x.shape[1]] = x
        out[i, 0, :, x.shape[1]:] = x[:, -1:]
    return out, np.array([x.shape[1] // STEP for x in inputs], np.int64)
