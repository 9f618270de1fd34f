"""From the network's outputs to boxes and text: connected components of the score map,
each giving one line's box (top and bottom voted by its pixels' distances, weighted by
score; left and right from the component's extent, widened by the label shrink), overlapping
boxes and fragments of a line suppressed, then, as a reader's ``Decoding`` says, pieces of a
line joined and boxes grown; greedy CTC decoding. numpy and OpenCV only."""
from typing import Dict, List, NamedTuple, Optional, Tuple

import cv2
import numpy as np

from models.fots.spec import BLANK, SHRINK, STRIDE, VOCAB

Box = Tuple[float, float, float, float]  # x0, y0, x1, y1


def area(a: Box) -> float:
    return (a[2] - a[0]) * (a[3] - a[1])


def intersection(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def iou(a: Box, b: Box) -> float:
    inter = intersection(a, b)
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def covered(a: Box, b: Box) -> float:
    """The share of ``a``'s area that ``b`` covers."""
    return intersection(a, b) / area(a) if area(a) > 0 else 1.0


class Decoding(NamedTuple):
    """How a detector's maps become line boxes. The defaults are the reader's; a weights
    folder's ``config.json`` may hold its own (``"decoding"``), chosen on validation frames
    by ``python -m models.fots.tune_decoding``: a lighter detector's maps split a line or
    stop short of its ends more often, which joining and widening undo."""

    threshold: float = 0.5  # score above which a map cell is text
    join: Optional[float] = None  # boxes side by side on one row, at most this many line heights apart: one line
    widen: float = 0.0  # each box's left and right moved out by this many of its heights
    taller: float = 0.0  # its top and bottom likewise


def boxes(score: np.ndarray, geometry: np.ndarray, decoding: Decoding = Decoding(),
          overlap: float = 0.3, inside: float = 0.5, stride: int = STRIDE) -> List[Tuple[Box, float]]:
    """score (h, w) probabilities, geometry (4, h, w) distances to top, bottom, left, right
    -> [(box, mean score)], best first, none overlapping by more than ``overlap`` IoU, and none
    lying more than ``inside`` of its area within a larger one: a fragment of a line (a few
    characters the score map split off, or a neighbouring line's print cut by a tight crop, which
    falls over the line's box), read as stray text after the line. Then pieces of a line are
    joined and the boxes grown as ``decoding`` says (``joined``, ``grown``).

    Left and right come from where the component starts and ends, not from the regressed
    distances: a line is up to 500 px long, and those distances, learnt on a CPU budget,
    overshoot by tens of pixels (48 validation frames: CER 41.6% with them, 22.7% this way)."""
    count, labels = cv2.connectedComponents((score > decoding.threshold).astype(np.uint8), connectivity=8)
    found = []
    for k in range(1, count):
        rows, cols = np.nonzero(labels == k)
        weight = score[rows, cols]
        cy = (rows + 0.5) * stride
        y0 = float(np.average(cy - geometry[0, rows, cols], weights=weight))
        y1 = float(np.average(cy + geometry[1, rows, cols], weights=weight))
        pad = SHRINK * (y1 - y0)  # the labels' shrink (data.targets), undone
        box = (float(cols.min() * stride - pad), y0, float((cols.max() + 1) * stride + pad), y1)
        found.append((box, float(weight.mean())))
    found = suppress(found, overlap, inside)
    if decoding.join is not None:
        found = joined(found, decoding.join)
    return grown(found, decoding.widen, decoding.taller)


def joined(found: List[Tuple[Box, float]], gap: float) -> List[Tuple[Box, float]]:
    """(box, confidence) with boxes of one row (overlapping by more than half the shorter
    one's height) whose horizontal gap is at most ``gap`` times that height made one, left to
    right, with the larger confidence; best first."""
    out: List[Tuple[Box, float]] = []
    for box, conf in sorted(found, key=lambda f: f[0][0]):
        for k, (other, other_conf) in enumerate(out):
            height = min(box[3] - box[1], other[3] - other[1])
            same_row = min(box[3], other[3]) - max(box[1], other[1]) > 0.5 * height
            if same_row and box[0] - other[2] <= gap * height:
                out[k] = ((other[0], min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3])),
                          max(conf, other_conf))
                break
        else:
            out.append((box, conf))
    return sorted(out, key=lambda f: -f[1])


def grown(found: List[Tuple[Box, float]], widen: float, taller: float) -> List[Tuple[Box, float]]:
    """Each box moved out by ``widen`` of its height left and right, ``taller`` top and bottom."""
    return [((b[0] - widen * (b[3] - b[1]), b[1] - taller * (b[3] - b[1]),
              b[2] + widen * (b[3] - b[1]), b[3] + taller * (b[3] - b[1])), conf) for b, conf in found]


def suppress(found: List[Tuple[Box, float]], overlap: float = 0.3, inside: float = 0.5) -> List[Tuple[Box, float]]:
    """(box, confidence) best first, without a box overlapping a more confident one by more than
    ``overlap`` IoU, nor one lying more than ``inside`` of its area within a larger one."""
    kept: List[Tuple[Box, float]] = []
    for box, conf in sorted(found, key=lambda f: -f[1]):
        if all(iou(box, other) <= overlap for other, _ in kept):
            kept.append((box, conf))
    return [(box, conf) for box, conf in kept
            if not any(area(other) > area(box) and covered(box, other) > inside for other, _ in kept)]


SPAN_COST_SCALE = 0.5  # reading a span as another character: this much per e-fold of probability below the best


def ctc_spans(log_probs: np.ndarray) -> List[Tuple[str, Dict[str, float]]]:
    """One line's best path (T, classes) as scored characters for a code grammar
    (bench/grammar.py ``Grammar.decode``): each run of frames that emits one character, and
    what reading it as each other character, or dropping it, costs: ``SPAN_COST_SCALE`` per
    e-fold that character's probability, averaged over the run, lies below the best one's,
    at most 1 (an ordinary edit)."""
    best = log_probs.argmax(axis=-1)
    spans, t = [], 0
    while t < len(best):
        if best[t] == BLANK:
            t += 1
            continue
        u = t
        while u < len(best) and best[u] == best[t]:
            u += 1
        lp = np.log(np.exp(log_probs[t:u]).mean(axis=0) + 1e-9)
        cost = np.minimum(1.0, SPAN_COST_SCALE * (lp[best[t]] - lp))
        costs = {VOCAB[k - 1]: float(cost[k]) for k in range(1, len(lp))}
        costs[""] = float(cost[BLANK])
        spans.append((VOCAB[best[t] - 1], costs))
        t = u
    return spans


def ctc_greedy(log_probs: np.ndarray) -> List[Tuple[str, float]]:
    """(T, K, classes) -> for each of the K lines, its text and mean best-path probability."""
    best = log_probs.argmax(axis=-1)  # (T, K)
    out = []
    for k in range(best.shape[1]):
        path = best[:, k]
        chars = [VOCAB[c - 1] for i, c in enumerate(path) if c != BLANK and (i == 0 or c != path[i - 1])]
        conf = float(np.exp(log_probs[np.arange(len(path)), k, path]).mean())
        out.append(("".join(chars), conf))
    return out
