"""Our own FOTS-style end-to-end code reader (models/fots), with the weights committed in
models/fots/weights/: trained here on generated codes, nothing to download."""
import os
from typing import Any, Dict, List

import numpy as np

from adapters.base import Adapter as BaseAdapter
from adapters.base import ModeUnavailable, Word


class Adapter(BaseAdapter):
    modes = ("cpu", "gpu")
    packages = ("torch", "torchvision")
    mode_notes = {"trt-fp32": "the FOTS TensorRT engine is not built by this harness yet",
                  "trt-fp16": "the FOTS TensorRT engine is not built by this harness yet"}

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        import torch

        from models.fots import data, reader

        if mode == "gpu" and not torch.cuda.is_available():
            raise ModeUnavailable("no CUDA device visible to torch %s" % torch.__version__)
        self._device = "cuda" if mode == "gpu" else "cpu"
        self._folder = options.get("weights") or reader.WEIGHTS
        self._model, self._config = reader.load(self._folder, self._device)
        self._threshold = float(options.get("threshold", 0.5))
        self._torch, self._data, self._reader = torch, data, reader

    def preprocess(self, image: np.ndarray) -> Any:
        import cv2

        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return self._data.to_canvas(gray)

    def infer(self, inputs: Any) -> List[Word]:
        return [Word(text, box, conf) for box, text, conf in
                self._reader.read(self._model, inputs, self._device, self._threshold)]

    def synchronize(self) -> None:
        if self._device == "cuda":
            self._torch.cuda.synchronize()

    def model_files(self) -> List[str]:
        return [os.path.join(self._folder, "model.pt")]

    def versions(self) -> Dict[str, str]:
        return {"fots-weights": "%s, %d steps" % (self._config["backbone"], self._config["steps"])}
