"""Inference: a canvas in, lines (box in the source image's pixels, text, confidence) out,
through PyTorch (``TorchBackend``) or ONNX Runtime (``OnnxBackend``) with the same decoding.
Used by training's validation and by adapters/fots.py."""
import json
import os
from typing import List, Tuple

import numpy as np
import torch

from models.fots import data, decode
from models.fots.net import FOTS

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "fots-b0")


def load(folder: str = WEIGHTS, device: str = "cpu") -> Tuple[FOTS, dict]:
    """The model described by ``folder/config.json`` with ``folder/model.pt`` (fp16 on disk)."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = FOTS(config["backbone"], config["width"], config["hidden"])
    state = torch.load(os.path.join(folder, "model.pt"), map_location="cpu")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.to(device).eval(), config


class TorchBackend:
    """The network in PyTorch, on ``device``."""

    def __init__(self, model: FOTS, device: str = "cpu") -> None:
        self.model, self.device = model, device

    def detect(self, images: np.ndarray):
        with torch.no_grad():
            feats = self.model.features(torch.from_numpy(images).to(self.device))
            score, geometry = self.model.detect(feats)
        return torch.sigmoid(score).cpu().numpy(), geometry.cpu().numpy(), feats

    def recognize(self, feats, rois: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model.recognize(feats, torch.from_numpy(rois).to(self.device)).cpu().numpy()


class OnnxBackend:
    """The exported graphs (models/fots/export.py) in ONNX Runtime sessions
    (adapters/onnx_runtime.py makes them for each mode)."""

    def __init__(self, detector, recognizer) -> None:
        self.det, self.rec = detector, recognizer

    def detect(self, images: np.ndarray):
        return tuple(self.det.run(None, {"images": images}))

    def recognize(self, feats, rois: np.ndarray) -> np.ndarray:
        return self.rec.run(None, {"features": feats, "rois": rois})[0]


def detect(backend, canvas: data.Canvas, threshold: float = 0.5):
    """The detector's half of reading: the (box, confidence) lines found on the canvas,
    the shared features and the recogniser's RoIs (batch index, box) for them."""
    score, geometry, feats = backend.detect(canvas.image[None, None].astype(np.float32))
    found = decode.boxes(score[0, 0], geometry[0], threshold)
    return found, feats, np.array([[0.0] + list(box) for box, _ in found], np.float32).reshape(-1, 5)


def to_source(box, canvas: data.Canvas) -> Tuple[float, float, float, float]:
    """A box on the canvas in the source image's pixels."""
    ox, oy = canvas.offset
    x0, y0, x1, y1 = box
    return (x0 - ox) / canvas.scale, (y0 - oy) / canvas.scale, (x1 - ox) / canvas.scale, (y1 - oy) / canvas.scale


def read(backend, canvas: data.Canvas,
         threshold: float = 0.5) -> List[Tuple[Tuple[float, float, float, float], str, float]]:
    """Lines on a canvas (``data.to_canvas(gray)``), with boxes in the source's pixels."""
    found, feats, rois = detect(backend, canvas, threshold)
    if not found:
        return []
    texts = decode.ctc_greedy(backend.recognize(feats, rois))
    return [(to_source(box, canvas), text, det_conf * rec_conf) for (box, det_conf), (text, rec_conf) in zip(found, texts)]


def read_in_grammar(backend, canvas: data.Canvas, grammar, threshold: float = 0.5):
    """The lines on a canvas read as one code of ``grammar`` (bench/grammar.py): the
    accepted string closest to the best paths, each character weighed by its CTC
    probabilities; lines top to bottom. Returns (box around the lines, text, far) or None."""
    found, feats, rois = detect(backend, canvas, threshold)
    if not found:
        return None
    log_probs = backend.recognize(feats, rois)
    order = np.argsort([(box[1] + box[3]) / 2 for box, _ in found])
    spans: list = []
    for k in order:
        spans += ([(" ", None)] if spans else []) + decode.ctc_spans(log_probs[:, k])
    reading = grammar.decode(spans)
    boxes = np.array([to_source(box, canvas) for box, _ in found])
    union = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
    return tuple(float(v) for v in union), reading.text, reading.far
