"""PaddleOCR's PP-OCRv4 models as ONNX, in ONNX Runtime, through RapidOCR's pipeline (the
``rapidocr_onnxruntime`` wheel ships the models and the pre- and post-processing): the
ONNX route to the same networks as adapters/paddleocr.py, on the CPU, the CUDA provider
or the TensorRT provider (adapters/onnx_runtime.py), with nothing downloaded.

Modes: ``cpu`` (ONNX Runtime's CPU provider), ``gpu`` (CUDA provider), ``trt-fp32`` and
``trt-fp16`` (TensorRT provider; engines cached in
``~/.cache/ocr-edge-bench/rapidocr-trt/``). RapidOCR's own sessions are replaced by ones
made for the mode, with no silent fallback to the CPU. Options go to ``RapidOCR(**options)``
(e.g. ``det_limit_side_len``); the angle classifier is off unless ``use_cls: true``.
"""
import os
from typing import Any, Dict, List

import numpy as np

from adapters.base import Adapter as BaseAdapter
from adapters.base import ModeUnavailable, Word, box_of

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "ocr-edge-bench", "rapidocr-trt")
# the harness mode -> the ONNX Runtime mode of adapters/onnx_runtime.py (this engine is ONNX throughout)
ORT_MODE = {"cpu": "onnx-cpu", "gpu": "gpu", "trt-fp32": "trt-fp32", "trt-fp16": "trt-fp16"}
MAX_SIDE = 1280  # the largest detector input in the TensorRT profile (option max_side)
BATCH = 6  # RapidOCR's recognition and classification batch


class Adapter(BaseAdapter):
    modes = tuple(ORT_MODE)
    onnx_cpu_modes = ("cpu",)  # rapidocr's pipeline on ONNX Runtime's CPU provider
    mode_notes = {"trt-int8": "RapidOCR makes its own ONNX Runtime sessions; calibrating its three models for "
                              "INT8 is not wired into this adapter"}
    model_name = "PP-OCRv4 (det + rec)"
    packages = ("rapidocr-onnxruntime", "onnxruntime", "onnxruntime-gpu", "tensorrt")

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        import onnxruntime
        from rapidocr_onnxruntime import RapidOCR

        from adapters import onnx_runtime

        onnx_runtime.providers(ORT_MODE[mode], onnxruntime.get_available_providers())  # or skipped, with why
        options = dict(options)
        max_side = int(options.pop("max_side", MAX_SIDE))
        engine = RapidOCR(**dict({"use_cls": False, "print_verbose": False}, **options))
        stages = {"det": engine.text_det.infer, "cls": engine.text_cls.infer, "rec": engine.text_rec.session}
        engines = ""
        if mode.startswith("trt"):
            gpu = onnxruntime.get_device()
            engines = onnx_runtime.engine_folder(CACHE, _gpu_name(gpu), onnx_runtime.tensorrt_version(), mode[4:],
                                                 (1, 3, max_side, max_side))
        profiles = {"det": {"x": ((1, 3, 32, 32), (1, 3, 160, 640), (1, 3, max_side, max_side))},
                    "cls": {"x": ((1, 3, 48, 192), (BATCH, 3, 48, 192), (BATCH, 3, 48, 192))},
                    "rec": {"x": ((1, 3, 48, 32), (BATCH, 3, 48, 320), (BATCH, 3, 48, 2048))}}
        self._files = [_model_path(name) for name in stages]
        for (name, stage), path in zip(stages.items(), self._files):
            stage.session = onnx_runtime.session(path, ORT_MODE[mode], engines, profiles[name])
        self._engine = engine
        self._about = onnx_runtime.describe(ORT_MODE[mode], engines)

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        import cv2

        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image

    def infer(self, inputs: Any) -> List[Word]:
        result, _ = self._engine(inputs)
        return [Word(text, box_of(points), float(score)) for points, text, score in (result or [])]

    def versions(self) -> Dict[str, str]:
        return self._about


def _model_path(stage: str) -> str:
    """The ONNX model RapidOCR ships for ``stage`` (det, cls, rec)."""
    import rapidocr_onnxruntime

    names = {"det": "ch_PP-OCRv4_det_infer.onnx", "cls": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
             "rec": "ch_PP-OCRv4_rec_infer.onnx"}
    return os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", names[stage])


def _gpu_name(device: str) -> str:
    """The CUDA device's name for the engine cache key (nvidia-smi; the Jetson's model)."""
    import subprocess

    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, universal_newlines=True, timeout=10).stdout.strip()
        if out:
            return out.splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        with open("/proc/device-tree/model") as f:
            return f.read().strip("\0\n ")
    except OSError:
        raise ModeUnavailable("no NVIDIA GPU found (onnxruntime device: %s)" % device)
