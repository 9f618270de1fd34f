"""ONNX Runtime sessions for an exported model, in the harness's modes: ``onnx-cpu`` (CPU
execution provider), ``gpu`` (CUDA provider) and ``trt-fp32`` / ``trt-fp16`` (TensorRT
provider, CUDA for the nodes TensorRT does not take). A helper for adapters whose engine
exports to ONNX (adapters/fots.py); not an engine itself.

A GPU mode whose provider does not start (ONNX Runtime would quietly run the whole graph on
the CPU) is skipped with the reason, never timed as a GPU number. Within a GPU session ONNX
Runtime still places small shape computations on the CPU, by design; that is not switched
off, since it would refuse graphs with dynamic shapes. TensorRT engines are cached on
disk in a folder keyed by GPU, TensorRT version, precision and input shape; ONNX Runtime
names each engine inside it by the model's hash. A graph with dynamic inputs gets one
optimisation profile (min, opt, max shape per input), so that no engine is rebuilt while
samples are timed; a shape outside it is an error of that sample, not a silent rebuild. Building an engine happens while the
session loads, so its time lands in the cell's ``load_s``, apart from inference time; a
build killed for memory kills the cell's process, which the runner records as ``failed``.

Device side: Python 3.6, onnxruntime (``onnxruntime-gpu`` for GPU modes).
"""
import hashlib
import os
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from adapters.base import ModeUnavailable

PROVIDERS = {"onnx-cpu": ("CPUExecutionProvider",),
             "gpu": ("CUDAExecutionProvider",),
             "trt-fp32": ("TensorrtExecutionProvider", "CUDAExecutionProvider"),
             "trt-fp16": ("TensorrtExecutionProvider", "CUDAExecutionProvider")}
WORKSPACE_BYTES = 1 << 30  # TensorRT builder workspace; a Jetson Nano has 4 GB for everything


def tensorrt_version() -> str:
    """The TensorRT Python package's version, or ``unknown`` (ONNX Runtime may load the
    libraries without it)."""
    try:
        import tensorrt

        return tensorrt.__version__
    except ImportError:
        return "unknown"


def opset(torch) -> int:
    """The ONNX opset to export with: 17, or 13 where torch is older than 1.13 (JetPack 4.6
    has torch 1.10, whose exporter stops at 14)."""
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    return 17 if (major, minor) >= (1, 13) else 13


def export_once(root: str, sources: Sequence[str], tag: str, names: Sequence[str],
                export: Callable[[str], Sequence[str]]) -> List[str]:
    """ONNX files ``names`` in ``root/<sha256 of the weight files>-<tag>/``, made by
    ``export(folder)`` only when one is missing (the tag carries the exporter's versions)."""
    digest = hashlib.sha256()
    for path in sources:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    folder = os.path.join(root, "%s-%s" % (digest.hexdigest()[:16], tag))
    paths = [os.path.join(folder, name) for name in names]
    if not all(os.path.isfile(p) for p in paths):
        os.makedirs(folder, exist_ok=True)
        paths = list(export(folder))
    return paths


def engine_folder(root: str, gpu: str, trt: str, precision: str, shape: Sequence[int]) -> str:
    """``root/<gpu>-trt<version>-<precision>-<shape>``, with the GPU's name made path-safe."""
    name = "%s-trt%s-%s-%s" % (gpu, trt, precision, "x".join(str(int(d)) for d in shape))
    return os.path.join(root, re.sub(r"[^A-Za-z0-9.+-]+", "_", name))


Profiles = Dict[str, Tuple[Sequence[int], Sequence[int], Sequence[int]]]  # input -> min, opt, max


def providers(mode: str, available: Sequence[str], cache: str = "", profiles: Optional[Profiles] = None) -> List[Any]:
    """The providers list for ``mode``, or ModeUnavailable saying which provider is missing."""
    if mode not in PROVIDERS:
        raise ModeUnavailable("no ONNX Runtime mode %r" % mode)
    missing = [p for p in PROVIDERS[mode] if p not in available]
    if missing:
        raise ModeUnavailable("onnxruntime here offers %s, not %s (install onnxruntime-gpu built with %s)"
                              % (", ".join(available), ", ".join(missing),
                                 "TensorRT" if mode.startswith("trt") else "CUDA"))
    if not mode.startswith("trt"):
        return list(PROVIDERS[mode])
    options = {"trt_fp16_enable": mode == "trt-fp16", "trt_engine_cache_enable": True,
               "trt_engine_cache_path": cache, "trt_max_workspace_size": WORKSPACE_BYTES}
    for i, bound in enumerate(("min", "opt", "max")):
        if profiles:
            options["trt_profile_%s_shapes" % bound] = ",".join(
                "%s:%s" % (name, "x".join(str(int(d)) for d in shapes[i])) for name, shapes in sorted(profiles.items()))
    return [("TensorrtExecutionProvider", options), "CUDAExecutionProvider"]


def session(path: str, mode: str, cache: str = "", profiles: Optional[Profiles] = None) -> Any:
    """An InferenceSession for one ONNX file in ``mode``; TensorRT engines under ``cache``."""
    import onnxruntime

    chosen = providers(mode, onnxruntime.get_available_providers(), cache, profiles)
    if cache:
        os.makedirs(cache, exist_ok=True)
    out = onnxruntime.InferenceSession(path, providers=chosen)
    first = chosen[0] if isinstance(chosen[0], str) else chosen[0][0]
    if first not in out.get_providers():
        raise ModeUnavailable("onnxruntime could not start %s for %s" % (first, os.path.basename(path)))
    return out


def describe(mode: str, cache: str) -> Dict[str, str]:
    """What a run should record about the sessions: runtime version, providers, engine cache."""
    import onnxruntime

    info = {"onnxruntime": onnxruntime.__version__, "onnx-providers": ",".join(PROVIDERS[mode])}
    if mode.startswith("trt"):
        info.update({"tensorrt": tensorrt_version(), "trt-engine-cache": cache})
    return info
