"""Inference: a canvas in, lines (box in the source image's pixels, text, confidence) out,
through PyTorch (``TorchBackend``) or ONNX Runtime (``OnnxBackend``) with the same decoding.
Used by training's validation and by adapters/fots.py. Only ``load``, ``save_with_detector``
and ``TorchBackend`` import torch, when called: the ONNX path runs without it (numpy,
OpenCV, ONNX Runtime), as on a Jetson Nano."""
import json
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from models.fots import data, decode, lines, orient, upright

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
WEIGHTS = os.path.join(ROOT, "fots-b0-lines")  # the reader: B0 detector, line recogniser on the lines' pixels
DETECTOR = os.path.join(ROOT, "fots-b0")  # the jointly trained reader whose detector it keeps
RECOGNITION_KEYS = ("rec_convs.", "rnn.", "classify.", "lines.")


def load(folder: str = WEIGHTS, device: str = "cpu"):
    """The model (models.fots.net.FOTS) described by ``folder/config.json`` with
    ``folder/model.pt`` (fp16 on disk), and the config."""
    import torch

    from models.fots.net import FOTS

    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = FOTS(config["backbone"], config["width"], config["hidden"], config.get("recognizer", "features"),
                 (config.get("lines") or {}).get("hidden", 128))
    state = torch.load(os.path.join(folder, "model.pt"), map_location="cpu")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.to(device).eval(), config


def detector_config(folder: str) -> dict:
    """The settings of the detector in a weights folder, as a reader keeping it records them."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    return {"backbone": config["backbone"], "width": config["width"], "hidden": config["hidden"],
            "detector_steps": config.get("detector_steps", config["steps"])}


def save_with_detector(recognizer, detector: str, out: str) -> None:
    """``out/model.pt`` (fp16): the detector of the weights folder ``detector`` and ``recognizer``
    (a models.fots.line_net.LineRecognizer) as the reader's line recogniser."""
    import torch

    state = torch.load(os.path.join(detector, "model.pt"), map_location="cpu")
    state = {k: v for k, v in state.items() if not k.startswith(RECOGNITION_KEYS)}
    state.update({"lines." + k: v.detach().cpu() for k, v in recognizer.state_dict().items()})
    state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    torch.save(state, os.path.join(out, "model.pt.tmp"))
    os.replace(os.path.join(out, "model.pt.tmp"), os.path.join(out, "model.pt"))


class TorchBackend:
    """The network in PyTorch, on ``device``, in ``dtype`` (float16: the ``gpu-fp16`` mode)."""

    reads_upright = False  # the upright network is a model of its own here

    def __init__(self, model, device: str = "cpu", dtype=None, upright=None) -> None:
        import torch

        self.torch = torch
        dtype = dtype or torch.float32
        self.model, self.device, self.dtype = model.to(dtype), device, dtype
        self.kind = model.recognizer
        self.upright = upright  # models/fots/upright.py's network, or None: every line taken as upright

    def upright_logits(self, pixels: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.no_grad():
            return self.upright(torch.from_numpy(pixels).to(self.device)).float().cpu().numpy()

    def detect(self, images: np.ndarray):
        torch = self.torch
        with torch.no_grad():
            feats = self.model.features(torch.from_numpy(images).to(self.device, self.dtype))
            score, geometry = self.model.detect(feats)
        return torch.sigmoid(score).float().cpu().numpy(), geometry.float().cpu().numpy(), feats

    def recognize(self, feats, rois: np.ndarray, pixels: Optional[np.ndarray] = None) -> np.ndarray:
        torch = self.torch
        with torch.no_grad():
            rois = torch.from_numpy(rois).to(self.device, self.dtype)
            if pixels is not None:
                pixels = torch.from_numpy(pixels).to(self.device, self.dtype)
            return self.model.recognize(feats, rois, pixels).float().cpu().numpy()


class OnnxBackend:
    """The exported graphs (models/fots/export.py) in ONNX Runtime sessions
    (adapters/onnx_runtime.py makes them for each mode). A recogniser graph with an
    ``upright`` output (``export.ReadsUpright``) is also the upright classifier: the pass that
    says which way up the lines are keeps their readings for ``recognize``."""

    def __init__(self, detector, recognizer, upright=None) -> None:
        self.det, self.rec = detector, recognizer
        self.inputs = [i.name for i in recognizer.get_inputs()]
        self.kind = {("features", "rois"): "features", ("lines",): "pixels"}.get(tuple(self.inputs), "both")
        self.reads_upright = [o.name for o in recognizer.get_outputs()] == ["log_probs", "upright"]
        self.upright = recognizer if self.reads_upright else upright
        self._read = None  # (lines, log-probabilities) of the last pass of the recogniser that reads upright

    def upright_logits(self, pixels: np.ndarray) -> np.ndarray:
        if self.reads_upright:
            log_probs, logits = self.rec.run(None, {"lines": pixels})
            self._read = (pixels, log_probs)
            return logits
        return self.upright.run(None, {"lines": pixels})[0]

    def detect(self, images: np.ndarray):
        return tuple(self.det.run(None, {"images": images}))

    def recognize(self, feats, rois: np.ndarray, pixels: Optional[np.ndarray] = None) -> np.ndarray:
        read, self._read = self._read, None
        if read is not None and read[0] is pixels:
            return read[1]
        given = {"features": feats, "rois": rois, "lines": pixels}
        return self.rec.run(None, {name: given[name] for name in self.inputs})[0]


def decoding(config: dict) -> decode.Decoding:
    """The box decoding a reader's ``config.json`` sets (``"decoding"``; the defaults where it
    sets none)."""
    chosen = config.get("decoding") or {}
    return decode.Decoding(**{name: chosen[name] for name in decode.Decoding._fields if name in chosen})


def detect(backend, canvases: Sequence[data.Canvas], decoding: decode.Decoding = decode.Decoding()):
    """The detector's half of reading, on several canvases at once: the (box, confidence)
    lines found on each (``decoding`` the maps), the shared features and the recogniser's
    RoIs (canvas index, box)."""
    images = data.stacked(canvases)
    score, geometry, feats = backend.detect(images)
    found = [decode.boxes(score[i, 0], geometry[i], decoding) for i in range(len(canvases))]
    rois = [[float(i)] + list(box) for i, lines in enumerate(found) for box, _ in lines]
    return found, feats, np.array(rois, np.float32).reshape(-1, 5)


def to_source(box, canvas: data.Canvas) -> Tuple[float, float, float, float]:
    """A box on the canvas in the source image's pixels."""
    ox, oy = canvas.offset
    x0, y0, x1, y1 = box
    return (x0 - ox) / canvas.scale, (y0 - oy) / canvas.scale, (x1 - ox) / canvas.scale, (y1 - oy) / canvas.scale


def to_level(box, canvas: data.Canvas) -> Tuple[float, float, float, float]:
    """A box on the canvas in the pixels of the image as read, its lines level: the image
    turned as ``data.for_reading`` turned it, without the margin it may have added. Lines
    are in reading order there (top to bottom, left to right), whichever way the image holds
    them."""
    return tuple(v - canvas.pad for v in to_source(box, canvas))


def to_image(box, canvas: data.Canvas) -> Tuple[float, float, float, float]:
    """A box on the canvas in the pixels of the image the canvas was made from (``to_level``,
    turned back where it was turned): for a turned image, the axis-aligned box around the line."""
    box = to_level(box, canvas)
    return box if canvas.turn is None else orient.to_source(box, canvas.turn)


Line = Tuple[Tuple[float, float, float, float], str, float]


def line_pixels(canvases: Sequence[data.Canvas], found) -> Tuple[np.ndarray, np.ndarray]:
    """The recogniser's input of every line found (``lines.line_input`` on the canvas's source
    image), in the order of the RoIs, and each line's CTC steps."""
    return lines.batch([lines.line_input(canvas.source, to_source(box, canvas))
                        for canvas, lines_found in zip(canvases, found) for box, _ in lines_found])


def detect_upright(backend, canvases: Sequence[data.Canvas], decoding: decode.Decoding = decode.Decoding(),
                   reading_ms: Optional[List[float]] = None):
    """``detect``, then, where the backend has the upright classifier (models/fots/upright.py),
    the canvases whose lines it finds upside down turned over (``data.turned_over``) and
    detected again. Returns the canvases read, what ``detect`` returns, and the lines'
    ``line_pixels`` when they are still those of the canvases (else None). Where the
    classifier's pass is the recogniser's too (``OnnxBackend.reads_upright``), its
    milliseconds, with the lines' cutting, go to ``reading_ms``."""
    found, feats, rois = detect(backend, canvases, decoding)
    if backend.upright is None or not len(rois):
        return list(canvases), found, feats, rois, None
    began = time.perf_counter()
    pixels = line_pixels(canvases, found)
    owners = [k for k, lines_found in enumerate(found) for _ in lines_found]
    logits = backend.upright_logits(pixels[0])
    if reading_ms is not None and backend.reads_upright:
        reading_ms.append((time.perf_counter() - began) * 1e3)
    over = upright.upside_down(logits, pixels[1] * lines.STEP, owners, len(canvases))
    if not over.any():
        return list(canvases), found, feats, rois, pixels
    canvases = [data.turned_over(c) if k else c for c, k in zip(canvases, over)]
    return (canvases,) + detect(backend, canvases, decoding) + (None,)


def recognize(backend, canvases: Sequence[data.Canvas], found, feats, rois: np.ndarray,
              pixels: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> List[np.ndarray]:
    """CTC log-probabilities (steps, classes) of every line found, in the order of ``rois``,
    each over its own steps: the recogniser reads the line's pixels from the canvas's source
    image (``pixels``: ``line_pixels`` already cut) and, for the ``features`` and ``both``
    recognisers, the shared features."""
    if not len(rois):
        return []
    pixels, steps = pixels or line_pixels(canvases, found)
    if backend.kind == "both":  # the features over the same regions as the pixels
        rois = np.concatenate([rois[:, :1], lines.regions(rois[:, 1:], steps * lines.STEP, pixels.shape[-1])], 1)
    log_probs = backend.recognize(feats, rois, pixels)
    if log_probs.shape[0] != pixels.shape[-1] // lines.STEP:  # the features recogniser: a fixed number of steps
        steps = np.full(len(rois), log_probs.shape[0])
    return [log_probs[:n, k] for k, n in enumerate(steps)]


def read(backend, canvases: Sequence[data.Canvas], decoding: decode.Decoding = decode.Decoding(),
         stage_ms: Optional[Dict[str, float]] = None, place=to_image) -> List[List[Line]]:
    """The lines of each canvas (``data.to_canvas(gray)``), read in one pass of each graph:
    box (``place(box, canvas)``: by default in the image's pixels), text, confidence; a
    canvas upside down is turned over first (``detect_upright``). ``stage_ms`` gets the
    detection's (with the upright classifier's) and the recognition's milliseconds; a pass
    that reads the lines and tells their way up at once counts as recognition."""
    began, reading_ms = time.perf_counter(), []  # type: float, List[float]
    canvases, found, feats, rois, pixels = detect_upright(backend, canvases, decoding, reading_ms)
    detected = time.perf_counter()
    texts = iter([decode.ctc_greedy(lp[:, None])[0] for lp in recognize(backend, canvases, found, feats, rois, pixels)])
    if stage_ms is not None:
        moved = sum(reading_ms)
        stage_ms.update(det=(detected - began) * 1e3 - moved, rec=(time.perf_counter() - detected) * 1e3 + moved)
    out = []
    for canvas, lines_found in zip(canvases, found):
        out.append([])
        for box, det_conf in lines_found:
            text, rec_conf = next(texts)
            out[-1].append((place(box, canvas), text, det_conf * rec_conf))
    return out


def read_in_grammar(backend, canvas: data.Canvas, grammar, decoding: decode.Decoding = decode.Decoding()):
    """The lines on a canvas read as one code of ``grammar`` (bench/grammar.py): the
    accepted string closest to the best paths, each character weighed by its CTC
    probabilities; lines top to bottom; a canvas upside down turned over first
    (``detect_upright``). Returns (box around the lines, text, far) or None."""
    (canvas,), (found,), feats, rois, pixels = detect_upright(backend, [canvas], decoding)
    if not found:
        return None
    log_probs = recognize(backend, [canvas], [found], feats, rois, pixels)
    order = np.argsort([(box[1] + box[3]) / 2 for box, _ in found])
    spans: list = []
    for k in order:
        spans += ([(" ", None)] if spans else []) + decode.ctc_spans(log_probs[k])
    reading = grammar.decode(spans)
    boxes = np.array([to_image(box, canvas) for box, _ in found])
    union = (boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max())
    return tuple(float(v) for v in union), reading.text, reading.far
