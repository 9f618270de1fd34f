"""Tesseract 4/5 (LSTM) called in-process through its C API with ctypes: no per-sample
process start, no Python binding to build. Needs ``libtesseract`` and the ``eng`` data
(Debian/Ubuntu: ``tesseract-ocr tesseract-ocr-eng``)."""
import ctypes
import ctypes.util
import os
from typing import Any, Dict, List

import numpy as np

from adapters.base import Adapter as BaseAdapter
from adapters.base import ModeUnavailable, Word

PSM_SINGLE_BLOCK = 6  # a code crop is one uniform block of text


def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("tesseract")
    if name is None:
        raise ModeUnavailable("libtesseract not found (install tesseract-ocr)")
    lib = ctypes.CDLL(name)
    lib.TessVersion.restype = ctypes.c_char_p
    lib.TessBaseAPICreate.restype = ctypes.c_void_p
    lib.TessBaseAPIInit3.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
    lib.TessBaseAPISetPageSegMode.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.TessBaseAPISetImage.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 4
    lib.TessBaseAPIGetUTF8Text.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIGetUTF8Text.restype = ctypes.c_void_p
    lib.TessBaseAPIMeanTextConf.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIGetDatapath.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIGetDatapath.restype = ctypes.c_char_p
    lib.TessDeleteText.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIEnd.argtypes = [ctypes.c_void_p]
    lib.TessBaseAPIDelete.argtypes = [ctypes.c_void_p]
    return lib


class Adapter(BaseAdapter):
    option_names = ("language", "psm", "tessdata")
    modes = ("cpu",)
    model_name = "Tesseract LSTM (eng)"
    packages = ()
    mode_notes = {m: "Tesseract has no GPU backend" for m in ("gpu", "trt-fp32", "trt-fp16", "trt-int8")}

    def load(self, mode: str, options: Dict[str, Any]) -> None:
        self._lib = lib = _library()
        self._version = lib.TessVersion().decode()
        self._api = lib.TessBaseAPICreate()
        datapath = options.get("tessdata")
        language = options.get("language", "eng")
        if lib.TessBaseAPIInit3(self._api, datapath.encode() if datapath else None, language.encode()) != 0:
            raise RuntimeError("Tesseract %s could not load language %r (tessdata: %s)"
                               % (self._version, language, datapath or "default"))
        lib.TessBaseAPISetPageSegMode(self._api, int(options.get("psm", PSM_SINGLE_BLOCK)))
        self._datapath = lib.TessBaseAPIGetDatapath(self._api).decode()
        self._language = language

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        if image.ndim == 3:  # OpenCV's BGR to the RGB Tesseract expects
            image = image[:, :, ::-1]
        return np.ascontiguousarray(image)

    def infer(self, inputs: Any) -> List[Word]:
        h, w = inputs.shape[:2]
        channels = 1 if inputs.ndim == 2 else inputs.shape[2]
        self._lib.TessBaseAPISetImage(self._api, inputs.ctypes.data, w, h, channels, inputs.strides[0])
        pointer = self._lib.TessBaseAPIGetUTF8Text(self._api)
        if not pointer:
            raise RuntimeError("Tesseract returned no text object")
        try:
            text = ctypes.string_at(pointer).decode("utf-8", "replace")
        finally:
            self._lib.TessDeleteText(pointer)
        score = self._lib.TessBaseAPIMeanTextConf(self._api) / 100.0
        return [Word(line, None, score) for line in text.splitlines() if line.strip()]

    def model_files(self) -> List[str]:
        return [os.path.join(self._datapath, self._language + ".traineddata")]

    def versions(self) -> Dict[str, str]:
        return {"libtesseract": self._version}

    def close(self) -> None:
        self._lib.TessBaseAPIEnd(self._api)
        self._lib.TessBaseAPIDelete(self._api)
