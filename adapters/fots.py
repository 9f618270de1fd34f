"""Our own FOTS-style end-to-end code reader (models/fots), with the weights committed in
models/fots/weights/: trained here on generated codes, nothing to download.

Modes: ``cpu`` and ``gpu`` in PyTorch; ``onnx-cpu`` in ONNX Runtime, from an export cached
in ``~/.cache/ocr-edge-bench/fots-onnx/`` per weights, torch version and opset (the export's
time is part of the cell's load time)."""
import hashlib
import os
from typing import Any, Dict, List

import numpy as np

from adapters.base import Adapter as BaseAdapter
from adapters.base import ModeUnavailable, Word

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "ocr-edge-bench", "fots-onnx")


class Adapter(BaseAdapter):
    modes = ("cpu", "gpu", "onnx-cpu")
    packages = ("torch", "torchvision", "onnxruntime")
    mode_notes = {"trt-fp32": "the FOTS TensorRT engine is not built by this harness yet",
                  "trt-fp16": "the FOTS TensorRT engine is not built by this harness yet"}

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        import torch

        from models.fots import data, reader

        if mode == "gpu" and not torch.cuda.is_available():
            raise ModeUnavailable("no CUDA device visible to torch %s" % torch.__version__)
        device = "cuda" if mode == "gpu" else "cpu"
        self._folder = options.get("weights") or reader.WEIGHTS
        model, self._config = reader.load(self._folder, device)
        self._files = [os.path.join(self._folder, "model.pt")]
        if mode == "onnx-cpu":
            self._backend = self._onnx(model, torch.__version__, reader)
        else:
            self._backend = reader.TorchBackend(model, device)
        self._threshold = float(options.get("threshold", 0.5))
        self._sync = torch.cuda.synchronize if mode == "gpu" else None
        self._data, self._reader = data, reader

    def _onnx(self, model, torch_version: str, reader):
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise ModeUnavailable("onnxruntime is not installed in this environment")
        from models.fots.export import OPSET, export

        with open(self._files[0], "rb") as f:
            key = "%s-torch%s-opset%d" % (hashlib.sha256(f.read()).hexdigest()[:16], torch_version, OPSET)
        folder = os.path.join(CACHE, key)
        paths = [os.path.join(folder, name) for name in ("detector.onnx", "recognizer.onnx")]
        if not all(os.path.isfile(p) for p in paths):
            paths = list(export(model, folder))
        self._files = paths
        return reader.OnnxBackend(*paths)

    def preprocess(self, image: np.ndarray) -> Any:
        import cv2

        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return self._data.to_canvas(gray)

    def infer(self, inputs: Any) -> List[Word]:
        return [Word(text, box, conf) for box, text, conf in self._reader.read(self._backend, inputs, self._threshold)]

    def synchronize(self) -> None:
        if self._sync is not None:
            self._sync()

    def model_files(self) -> List[str]:
        return self._files

    def versions(self) -> Dict[str, str]:
        return {"fots-weights": "%s, %d steps" % (self._config["backbone"], self._config["steps"])}
