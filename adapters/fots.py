"""Our own FOTS-style end-to-end code reader (models/fots), with the weights committed in
models/fots/weights/: trained here on generated codes, nothing to download.

Modes: ``cpu``, ``gpu`` and ``gpu-fp16`` (weights and activations in half precision) in
PyTorch; ``onnx-cpu``, ``trt-fp32``, ``trt-fp16`` and ``trt-int8`` in ONNX Runtime (CPU, or
TensorRT with CUDA for what TensorRT does not take; adapters/onnx_runtime.py), from the
graphs shipped in the weights folder's ``onnx/`` (models/fots/graphs.py): these modes never
import torch (numpy, OpenCV, ONNX Runtime; a Jetson needs nothing more). TensorRT engines
are cached in ``~/.cache/ocr-edge-bench/fots-trt/`` per GPU, TensorRT version, precision and
input shape. ``trt-int8`` calibrates both graphs on the images the harness hands
``calibrate`` (the warm-up image and the first samples; the recogniser on the lines the
detector finds in them) before building its engines. Calibration and engine build are load
time.

Options: ``weights`` (a weights folder, default the committed reader), ``threshold``
(detection; by default the weights' own: the rest of their decoding, models/fots/decode.py
``Decoding``, comes from their ``config.json``), ``precision`` (``fp32``, or ``int8``: the
statically quantised detector of models/fots/quantize.py, ``onnx-cpu`` only), ``grammar`` (a code grammar file,
bench/grammar.py, or ``run``: the run's grammar; the lines are decoded as the accepted code
most probable under the CTC outputs, instead of each line's best path; without a grammar,
as usual).

Each crop is first turned so that its text runs level (models/fots/orient.py: the angle from
its edges, -90 to 90 degrees), then read from a canvas cut down to it (models/fots/data.py,
``for_reading``); TensorRT modes read the full canvas their engines are built for. A canvas
whose lines the upright classifier (models/fots/upright.py, weights/upright) finds upside
down is turned over and read again. Where the classifier shares the recogniser's
convolutions, the ONNX modes read the graph that gives a line's reading and its way up in
one pass (``recognizer-upright.onnx``); else the classifier's own small graph runs in ONNX
Runtime on the CPU. A crop's lines come as one Word (``in_reading_order``): their texts in
the order they are read with the lines level, whichever way the crop holds them, and the
box around them in the crop's pixels.

Batches (offline and multi-stream scenarios, bench/scenarios.py): the canvases of a call go
through the detector as one tensor and all their lines through the recogniser at once, in
PyTorch and ``onnx-cpu``; TensorRT modes (engines built for one image) and grammar decoding
read one image at a time."""
import json
import os
import zipfile
from typing import Any, Dict, List, Optional

import numpy as np

from adapters.base import Adapter as BaseAdapter
from adapters.base import (CPU_MODES, ModeUnavailable, Word, join_reading_order, kept_steps, number_option, repo_path,
                           torch_gpu_versions)

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "ocr-edge-bench")
ONNX_MODES = ("onnx-cpu", "trt-fp32", "trt-fp16", "trt-int8")
MAX_LINES = 16  # lines per image in the TensorRT recogniser's profile
RECOGNIZERS = {"features": "shared-features", "pixels": "line-pixels", "both": "line-pixels + shared-features"}
PRECISIONS = {"fp32": ("detector.onnx", "recognizer.onnx"), "int8": ("detector-int8.onnx", "recognizer.onnx")}


def weights_problem(folder: str) -> Optional[str]:
    """What makes a weights folder unreadable, found without torch: a ``config.json`` that is
    not JSON or lacks the network's settings, a ``model.pt`` that is not the zip archive torch
    writes (cut short by a copy, or a Git LFS pointer); None for a readable one."""
    config = os.path.join(folder, "config.json")
    try:
        with open(config, encoding="utf-8") as f:
            settings = json.load(f)
    except (OSError, ValueError) as exc:
        return "%s cannot be read as JSON (%s)" % (config, exc)
    if not isinstance(settings, dict):
        return "%s holds no settings (a JSON object)" % config
    missing = [key for key, kind in (("backbone", str), ("width", int), ("hidden", int))
               if not isinstance(settings.get(key), kind)]
    if missing:
        return "%s lacks the network's %s" % (config, ", ".join(missing))
    model = os.path.join(folder, "model.pt")
    if not zipfile.is_zipfile(model):
        return "%s is not a torch checkpoint (a zip archive): cut short by a copy, or a Git LFS pointer?" % model
    return None


def in_reading_order(lines: List[Any]) -> List[Word]:
    """A canvas's lines ((box in the image, box with the lines level), text, confidence) as
    one Word: the texts in reading order where the lines lie level (top to bottom, left to
    right: ``join_reading_order`` on the level boxes), the box around them all in the image,
    the least confidence. The harness orders words by their boxes in the image, which for a
    code turned upside down or on its side is not the order it is read in."""
    if not lines:
        return []
    text = join_reading_order([Word(text, level) for (_, level), text, _ in lines])
    boxes = np.array([image for (image, _), _, _ in lines], np.float64)
    box = (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))
    return [Word(text, box, min(conf for _, _, conf in lines))]


class Adapter(BaseAdapter):
    option_names = ("weights", "threshold", "grammar", "precision")
    modes = ("cpu", "gpu", "gpu-fp16", "trt-fp32", "trt-fp16", "trt-int8", "onnx-cpu")
    onnx_cpu_modes = ("onnx-cpu",)
    packages = ("torch", "torchvision", "onnxruntime", "onnxruntime-gpu", "tensorrt")

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> None:
        number_option(options, "threshold", 0.0, 1.0)
        grammar = options.get("grammar")
        if grammar is not None and (not isinstance(grammar, str) or not grammar.strip()):
            raise ValueError("grammar: 'run' (the run's code grammar) or a grammar file, got %r" % grammar)
        if options.get("precision", "fp32") not in PRECISIONS:
            raise ValueError("precision: one of %s, got %r" % (", ".join(PRECISIONS), options.get("precision")))
        weights = options.get("weights")
        if weights is not None and not (isinstance(weights, str) and all(
                os.path.isfile(os.path.join(repo_path(weights), name)) for name in ("config.json", "model.pt"))):
            raise ValueError("weights: %r is not a reader's weights folder (model.pt and config.json; paths are "
                             "relative to the repository)" % (weights,))
        if weights is not None:
            problem = weights_problem(repo_path(weights))
            if problem:
                raise ValueError("weights: %s" % problem)

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        from models.fots import data, reader

        self._folder = repo_path(options.get("weights") or reader.WEIGHTS)
        with open(os.path.join(self._folder, "config.json")) as f:
            self._config = json.load(f)
        self._precision = options.get("precision", "fp32")
        if self._precision != "fp32" and mode != "onnx-cpu":
            raise ModeUnavailable("precision %s: its graphs run in onnx-cpu only (trt-int8 builds TensorRT's own INT8 "
                                  "engines)" % self._precision)
        self._kind = self._config.get("recognizer", "features")
        self.stage_ms = {}
        self.model_name = "FOTS %s detector + %s recogniser" % (self._config["backbone"].upper(), RECOGNIZERS[self._kind])
        if (self._config.get("lines") or {}).get("hidden", 128) != 128:  # a smaller LSTM (models/fots/distill_head.py)
            self.model_name += " (LSTM of %d)" % self._config["lines"]["hidden"]
        if self._config.get("fine_tuned_from"):
            self.model_name += " fine-tuned on %s" % os.path.basename(os.path.dirname(
                (self._config.get("dataset") or {}).get("manifest") or "photos/"))
        if self._precision != "fp32":
            self.model_name += " (%s)" % self._precision.upper()
        self._about: Dict[str, str] = {}
        self.decoding = reader.decoding(self._config)  # how the detector's maps become boxes
        if options.get("threshold") is not None:
            self.decoding = self.decoding._replace(threshold=float(options["threshold"]))
        self._grammar = None
        if options.get("grammar"):
            from bench import grammar

            self._grammar = grammar.load(options["grammar"])
        self._data, self._reader = data, reader
        self.batches = self._grammar is None and not mode.startswith("trt")
        self._fit = not mode.startswith("trt")  # canvases cut down to the crop; TensorRT's engines: the full canvas
        self._backend = self._onnx(mode) if mode in ONNX_MODES else self._torch(mode)

    def _torch(self, mode: str):
        import torch

        from models.fots import upright

        if mode not in CPU_MODES and not torch.cuda.is_available():
            raise ModeUnavailable("no CUDA device visible to torch %s" % torch.__version__)
        device = "cuda" if mode.startswith("gpu") else "cpu"
        self._sync = torch.cuda.synchronize if device == "cuda" else None
        model, _ = self._reader.load(self._folder, device)
        self._files = [os.path.join(self._folder, "model.pt")]
        net = upright.load(device=device)
        if net is not None:
            self._files.append(os.path.join(upright.WEIGHTS, "model.pt"))
        self._about = torch_gpu_versions(torch)
        return self._reader.TorchBackend(model, device, torch.float16 if mode == "gpu-fp16" else torch.float32, net)

    def _onnx(self, mode: str):
        """Sessions of the shipped graphs; for ``trt-int8``, None until ``calibrate``."""
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ModeUnavailable("onnxruntime is not installed in this environment")
        from adapters import onnx_runtime
        from models.fots import graphs, lines, upright
        from models.fots.data import CANVAS_H, CANVAS_W
        from models.fots.spec import INPUTS, STRIDE

        try:
            make = "python -m models.fots.%s --weights %s" % (
                "export" if self._precision == "fp32" else "quantize", self._folder)
            detector, recognizer = PRECISIONS[self._precision]
            reads_upright = graphs.reads_upright(self._folder, upright.WEIGHTS)
            self._files = graphs.paths(self._folder, [detector, graphs.READS_UPRIGHT if reads_upright else recognizer],
                                       make)
            if not reads_upright and os.path.isfile(os.path.join(upright.WEIGHTS, "model.pt")):
                self._files += graphs.paths(upright.WEIGHTS, ["upright.onnx"], "python -m models.fots.export")
        except graphs.GraphsMissing as exc:
            raise ModeUnavailable(str(exc))
        self._engines = ""
        if mode.startswith("trt"):
            gpu, capability = onnx_runtime.cuda_gpu()
            if mode == "trt-int8":
                onnx_runtime.require_int8(gpu, capability)
            self._engines = onnx_runtime.engine_folder(os.path.join(CACHE, "fots-trt"), gpu,
                                                       onnx_runtime.tensorrt_version(), mode[4:],
                                                       (1, 1, CANVAS_H, CANVAS_W))
            self._about["gpu"] = "%s (compute capability %d.%d)" % ((gpu,) + tuple(capability))
        self._mode = mode
        self._about.update(onnx_runtime.describe(mode, self._engines))
        self._about["fots-graphs"] = ", ".join(os.path.relpath(p, repo_path(".")) for p in self._files)
        feats = (1, self._config["width"], CANVAS_H // STRIDE, CANVAS_W // STRIDE)
        shapes = {"features": (feats, feats, feats), "rois": ((1, 5), (2, 5), (MAX_LINES, 5)),
                  "lines": ((1, 1, lines.HEIGHT, lines.MIN_WIDTH), (2, 1, lines.HEIGHT, 320),
                            (MAX_LINES, 1, lines.HEIGHT, lines.MAX_WIDTH))}
        self._lines = {name: shapes[name] for name in INPUTS[self._kind]}
        self._images = {"images": ((1, 1, CANVAS_H, CANVAS_W),) * 3}  # TensorRT: one image per call
        if mode == "trt-int8":
            return None
        return self._sessions(mode, self._engines, self._engines)

    def _sessions(self, mode: str, detector_cache: str, recognizer_cache: str):
        from adapters import onnx_runtime

        upright = onnx_runtime.session(self._files[2], "onnx-cpu") if len(self._files) > 2 else None
        return self._reader.OnnxBackend(onnx_runtime.session(self._files[0], mode, detector_cache, self._images),
                                        onnx_runtime.session(self._files[1], mode, recognizer_cache, self._lines),
                                        upright)

    def calibrate(self, images: List[np.ndarray]) -> None:
        """``trt-int8`` only: ranges for both graphs from ``images``, then the engines."""
        if self._backend is not None:
            return
        from adapters import onnx_runtime

        if not images:
            raise RuntimeError("TensorRT INT8 needs calibration images, and the suite's calibration count is 0")
        cpu = self._sessions("onnx-cpu", "", "")
        detector, recognizer = [], []
        for image in images:
            canvas = self.preprocess(image)
            (found,), feats, rois = self._reader.detect(cpu, [canvas], self.decoding)
            detector.append({"images": self._data.stacked([canvas])})
            if found:
                found = found[:MAX_LINES]
                given = {"features": feats, "rois": rois[:MAX_LINES],
                         "lines": self._reader.line_pixels([canvas], [found])[0]}
                recognizer.append({name: given[name] for name in self._lines})
        if not recognizer:
            raise RuntimeError("TensorRT INT8 calibration: no text line found in the %d calibration images (the "
                               "suite's calibration count)" % len(images))
        self._backend = self._sessions(self._mode, *onnx_runtime.calibrated_caches(self._files, (detector, recognizer),
                                                                                 self._engines))
        self._about["int8-calibration"] = "MinMax, %d images, %d with lines" % (len(images), len(recognizer))

    def preprocess(self, image: np.ndarray) -> Any:
        import cv2

        from models.fots import orient

        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return self._data.for_reading(gray, self._fit, orient.text_angle(gray))

    def infer(self, inputs: Any) -> List[Word]:
        if self._grammar is not None:
            found = self._reader.read_in_grammar(self._backend, inputs, self._grammar, self.decoding)
            return [Word(found[1], found[0], None)] if found else []
        return self._read([inputs])[0]

    def infer_batch(self, inputs: List[Any]) -> List[List[Word]]:
        return self._read(inputs) if self.batches else super().infer_batch(inputs)

    def _read(self, canvases: List[Any]) -> List[List[Word]]:
        reader = self._reader
        placed = lambda box, canvas: (reader.to_image(box, canvas), reader.to_level(box, canvas))  # noqa: E731
        return [in_reading_order(lines) for lines in reader.read(self._backend, canvases, self.decoding, self.stage_ms,
                                                                  placed)]

    def versions(self) -> Dict[str, str]:
        out = dict(self._about)
        out["fots-weights"] = "%s (%s), detector %d steps, recogniser %d steps" % (
            os.path.basename(os.path.normpath(self._folder)), self._config["backbone"],
            self._config.get("detector_steps", kept_steps(self._config)),
            self._config.get("recognizer_steps", kept_steps(self._config)))
        return out
