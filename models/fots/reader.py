"""Inference: a canvas in, lines (box in the source image's pixels, text, confidence) out,
through PyTorch (``TorchBackend``) or ONNX Runtime (``OnnxBackend``) with the same decoding.
Used by training's validation and by adapters/fots.py."""
import json
import os
from typing import List, Sequence, Tuple

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
    """The network in PyTorch, on ``device``, in ``dtype`` (float16: the ``gpu-fp16`` mode)."""

    def __init__(self, model: FOTS, device: str = "cpu", dtype=torch.float32) -> None:
        self.model, self.device, self.dtype = model.to(dtype), device, dtype

    def detect(self, images: np.ndarray):
        with torch.no_grad():
            feats = self.model.features(torch.from_numpy(images).to(self.device, self.dtype))
            score, geometry = self.model.detect(feats)
        return torch.sigmoid(score).float().cpu().numpy(), geometry.float().cpu().numpy(), feats

    def recognize(self, feats, rois: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            rois = torch.from_numpy(rois).to(self.device, self.dtype)
            return self.model.recognize(feats, rois).float().cpu().numpy()


class OnnxBackend:
    """The exported graphs (models/fots/export.py) in ONNX Runtime sessions
    (adapters/onnx_runtime.py makes them for each mode)."""

    def __init__(self, detector, recognizer) -> None:
        self.det, self.rec = detector, recognizer

    def detect(self, images: np.ndarray):
        return tuple(self.det.run(None, {"images": images}))

    def recognize(self, feats, rois: np.ndarray) -> np.ndarray:
        return self.rec.run(None, {"features": feats, "rois": rois})[0]


def detect(backend, canvases: Sequence[data.Canvas], threshold: float = 0.5):
    """The detector's half of reading, on several canvases at once: the (box, confidence)
    lines found on each, the shared features and the recogniser's RoIs (canvas index, box)."""
    images = np.stack([canvas.image for canvas in canvases])[:, None].astype(np.float32)
    score, geometry, feats = backend.detect(images)
    found = [decode.boxes(score[i, 0], geometry[i], threshold) for i in range(len(canvases))]
    rois = [[float(i)] + list(box) for i, lines in enumerate(found) for box, _ in lines]
    return found, feats, np.array(rois, np.float32).reshape(-1, 5)


def to_source(box, canvas: data.Canvas) -> Tuple[float, float, float, float]:
    """A box on the canvas in the source image's pixels."""
    ox, oy = canvas.offset
    x0, y0, x1, y1 = box
    return (x0 - ox) / canvas.scale, (y0 - oy) / canvas.scale, (x1 - ox) / canvas.scale, (y1 - oy) / canvas.scale


Line = Tuple[Tuple[float, float, float, float], str, float]


def read(backend, canvases: Sequence[data.Canvas], threshold: float = 0.5) -> List[List[Line]]:
    """The lines of each canvas (``data.to_canvas(gray)``), read in one pass of each graph:
    box in the source's pixels, text, confidence."""
    found, feats, rois = detect(backend, canvases, threshold)
    texts = iter(decode.ctc_greedy(backend.recognize(feats, rois)) if len(rois) else [])
    out = []
    for canvas, lines in zip(canvases, found):
        out.append([])
        for box, det_conf in lines:
            text, rec_conf = next(texts)
            out[-1].append((to_source(box, canvas), text, det_conf * rec_conf))
    return out


def read_in_grammar(backend, canvas: data.Canvas, grammar, threshold: float = 0.5):
    """The lines on a canvas read as one code of ``grammar`` (bench/grammar.py): the
    accepted string closest to the best paths, each character weighed by its CTC
    probabilities; lines top to bottom. Returns (box around the lines, text, far) or None."""
    (found,), feats, rois = detect(backend, [canvas], threshold)
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
