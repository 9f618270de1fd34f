"""PaddleOCR's newest generation, PP-OCRv6 (small detector and recogniser), as ONNX in ONNX
Runtime through the ``rapidocr`` 3.x package's own pipeline; the models ship inside its
wheel, so nothing is downloaded (a missing model file is an error, never a download).

Modes: ``cpu`` (ONNX Runtime's CPU provider), ``gpu`` (CUDA provider), ``trt-fp32`` and
``trt-fp16`` (TensorRT provider, engines cached in ``~/.cache/ocr-edge-bench/ppocrv6-trt/``);
``trt-int8`` is not offered (the float models are not calibrated here). The pipeline's own
sessions are replaced by ones made for the mode (adapters/onnx_runtime.py), with no silent
fallback to the CPU; the suite's ``threads`` reach them (``intra_op_num_threads``) and its
engine config. Detection and recognition are timed apart by the pipeline (``stage_ms``); where the detector
finds no line, the call is all detection and recognition takes 0 ms.

Options go to ``RapidOCR(params=...)`` under their dotted names, and the harness's short
ones: ``det_limit_type``, ``det_limit_side_len`` (as for the PP-OCRv4 rows: the crop's short
side scaled up to 160 px), ``use_cls`` (the angle classifier, off by default, as there),
``rec_model``: a recogniser to run instead of the shipped one (a ``.onnx`` path relative to
the repository, its characters in its ``character`` metadata, as
models/ppocrv6_codes/finetune.py writes it: engine ``ppocrv6-codes``).

The package needs Python >= 3.8: on a Jetson with JetPack 4.6 (Python 3.6) give this
engine an interpreter of its own in the suite (``python:``); in one that is too old the cell
is skipped with that reason.
"""
import json
import os
import sys
import time
from typing import Any, Dict, List

import numpy as np

from adapters import rapidocr as v4
from adapters.base import Adapter as BaseAdapter
from adapters.base import ModeUnavailable, Word, box_of, kept_steps, repo_path, threads

CACHE = os.path.join(os.path.expanduser("~"), ".cache", "ocr-edge-bench", "ppocrv6-trt")
MODELS = {"det": "PP-OCRv6_det_small.onnx", "rec": "PP-OCRv6_rec_small.onnx",
          "cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx"}
SHORT = {"det_limit_type": "Det.limit_type", "det_limit_side_len": "Det.limit_side_len", "use_cls": "Global.use_cls"}
BATCH = 6  # the pipeline's recognition and classification batch


class Adapter(BaseAdapter):
    modes = tuple(v4.ORT_MODE)
    onnx_cpu_modes = ("cpu",)  # rapidocr's pipeline on ONNX Runtime's CPU provider
    mode_notes = {"trt-int8": "PP-OCRv6's float ONNX models are not calibrated for INT8 by this adapter"}
    packages = ("rapidocr", "onnxruntime", "onnxruntime-gpu", "tensorrt")
    model_name = "PP-OCRv6 small (det + rec)"

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        if sys.version_info < (3, 8):
            raise ModeUnavailable("rapidocr 3.x (PP-OCRv6) needs Python >= 3.8, this interpreter is %d.%d.%d; give "
                                  "the engine its own (python: in the suite)" % sys.version_info[:3])
        import onnxruntime
        from rapidocr import RapidOCR

        from adapters import onnx_runtime

        onnx_runtime.providers(v4.ORT_MODE[mode], onnxruntime.get_available_providers())  # or skipped, with why
        options = dict(options)
        max_side = int(options.pop("max_side", v4.MAX_SIDE))
        rec_model = options.pop("rec_model", None)
        params = {"Global.use_cls": False, "Global.log_level": "error"}
        params.update({SHORT.get(k, k): v for k, v in options.items()})
        use_cls = bool(params["Global.use_cls"])
        stages = ["det", "rec"] + (["cls"] if use_cls else [])
        self._files = [_model_path(stage) for stage in stages]
        if rec_model:
            self._files[1] = repo_path(rec_model)
            meta = onnxruntime.InferenceSession(self._files[1], providers=["CPUExecutionProvider"]).get_modelmeta()
            if "character" not in meta.custom_metadata_map:  # rapidocr would download a character list
                raise ValueError("rec_model: %s has no character list in its metadata ('character'); write it with "
                                 "models/ppocrv6_codes/finetune.py" % rec_model)
            self.model_name = "PP-OCRv6 small (det + %s)" % rec_about(self._files[1])
        for stage, path in zip(stages, self._files):
            if not os.path.isfile(path):
                raise RuntimeError("rapidocr's wheel lacks %s (%s); this adapter never downloads models" % (stage, path))
            params["%s.model_path" % stage.capitalize()] = path
        if threads() is not None:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads()
        engine = RapidOCR(params=params)
        engines = ""
        if mode.startswith("trt"):
            engines = onnx_runtime.engine_folder(CACHE, v4._gpu_name(onnxruntime.get_device()),
                                                 onnx_runtime.tensorrt_version(), mode[4:], (1, 3, max_side, max_side))
        profiles = {"det": {"x": ((1, 3, 32, 32), (1, 3, 160, 640), (1, 3, max_side, max_side))},
                    "cls": {"x": ((1, 3, 48, 192), (BATCH, 3, 48, 192), (BATCH, 3, 48, 192))},
                    "rec": {"x": ((1, 3, 48, 32), (BATCH, 3, 48, 320), (BATCH, 3, 48, 2048))}}
        loaded = {"det": engine._load_det_model, "rec": engine._load_rec_model, "cls": engine._load_cls_model}
        pipeline = {stage: loaded[stage]() for stage in stages}  # rapidocr's own sessions first (share_threads)
        for stage, path in zip(stages, self._files):  # the pipeline's sessions, replaced by the mode's
            pipeline[stage].session.session = onnx_runtime.session(path, v4.ORT_MODE[mode], engines, profiles[stage])
        self._engine = engine
        self._about = dict(onnx_runtime.describe(v4.ORT_MODE[mode], engines), models=self.model_name)

    @classmethod
    def check_options(cls, options: Dict[str, Any]) -> None:
        path = options.get("rec_model")
        if path is None:
            return
        if not (isinstance(path, str) and path.endswith(".onnx")):
            raise ValueError("rec_model: an ONNX recogniser file (.onnx, relative to the repository), got %r" % (path,))
        if not os.path.isfile(repo_path(path)):
            raise ValueError("rec_model: %s: no such file (%s)" % (path, repo_path(path)))

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        return v4.Adapter.preprocess(self, image)

    def infer(self, inputs: Any) -> List[Word]:
        start = time.perf_counter()
        result = self._engine(inputs)
        if result.elapse_list:
            det, _, rec = (list(result.elapse_list) + [None] * 3)[:3]
            self.stage_ms = {"det": det * 1e3 if det else None, "rec": rec * 1e3 if rec else None}
        else:  # the detector found no line: it was all the work, and nothing was recognised
            self.stage_ms = {"det": (time.perf_counter() - start) * 1e3, "rec": 0.0}
        if result.txts is None or result.boxes is None:
            return []
        return [Word(text, box_of(points), float(score)) for points, text, score in
                zip(result.boxes, result.txts, result.scores)]

    def versions(self) -> Dict[str, str]:
        return self._about


def rec_about(path: str) -> str:
    """How the report names a fine-tuned recogniser: what it was fine-tuned from and for how
    long, from the ``config.json`` its training wrote beside it, else its file name."""
    try:
        with open(os.path.join(os.path.dirname(path), "config.json")) as f:
            config = json.load(f)
        return "rec fine-tuned on codes (%s, %d steps)" % (os.path.basename(path), kept_steps(config))
    except (OSError, ValueError, KeyError, TypeError):
        return "rec %s" % os.path.basename(path)


def _model_path(stage: str) -> str:
    """The ONNX model the ``rapidocr`` wheel ships for ``stage`` (det, rec, cls)."""
    import rapidocr

    return os.path.join(os.path.dirname(rapidocr.__file__), "models", MODELS[stage])
