"""ONNX Runtime sessions for an exported model, in the harness's modes: ``onnx-cpu`` (CPU
execution provider), ``gpu`` (CUDA provider) and ``trt-fp32`` / ``trt-fp16`` / ``trt-int8``
(TensorRT provider, CUDA for the nodes TensorRT does not take). A helper for adapters whose
engine exports to ONNX (adapters/fots.py); not an engine itself.

INT8: ``calibration_table`` runs the graph on the CPU over calibration inputs (ONNX
Runtime's MinMax calibrator: each tensor's largest magnitude) and writes the table the
TensorRT provider reads; layers without INT8 kernels run in FP16, as ``trtexec --int8
--fp16`` would. TensorRT has INT8 kernels from compute capability 6.1 on (not 6.0 or 6.2),
so a Jetson Nano (5.3) or TX2 (6.2) skips the mode.

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

from adapters.base import ModeUnavailable, threads

PROVIDERS = {"onnx-cpu": ("CPUExecutionProvider",),
             "gpu": ("CUDAExecutionProvider",),
             "trt-fp32": ("TensorrtExecutionProvider", "CUDAExecutionProvider"),
             "trt-fp16": ("TensorrtExecutionProvider", "CUDAExecutionProvider"),
             "trt-int8": ("TensorrtExecutionProvider", "CUDAExecutionProvider")}
CALIBRATION_TABLE = "calibration.flatbuffers"  # the name write_calibration_table gives it
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


def graph_folder(root: str, sources: Sequence[str], tag: str) -> str:
    """``root/<sha256 of the weight files>-<tag>/``: where graphs made from them are cached."""
    digest = hashlib.sha256()
    for path in sources:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return os.path.join(root, "%s-%s" % (digest.hexdigest()[:16], tag))


def export_once(root: str, sources: Sequence[str], tag: str, names: Sequence[str],
                export: Callable[[str], Sequence[str]]) -> List[str]:
    """ONNX files ``names`` in ``graph_folder(root, sources, tag)``, made by
    ``export(folder)`` only when one is missing (the tag carries the exporter's versions)."""
    folder = graph_folder(root, sources, tag)
    paths = [os.path.join(folder, name) for name in names]
    if not all(os.path.isfile(p) for p in paths):
        os.makedirs(folder, exist_ok=True)
        paths = list(export(folder))
    return paths


CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY = (75, 76)  # major, minor (cuda.h)


def cuda_gpu() -> Tuple[str, Tuple[int, int]]:
    """The first CUDA device's name and compute capability, from the CUDA driver (libcuda)
    without torch: what TensorRT engines are cached under and INT8 depends on. ModeUnavailable
    where there is no driver or no device."""
    import ctypes

    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            cuda = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        raise ModeUnavailable("no CUDA driver (libcuda) on this machine")
    device = ctypes.c_int()
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGet(ctypes.byref(device), 0) != 0:
        raise ModeUnavailable("the CUDA driver finds no GPU")
    label = ctypes.create_string_buffer(256)
    major, minor = ctypes.c_int(), ctypes.c_int()
    cuda.cuDeviceGetName(label, 256, device)
    cuda.cuDeviceGetAttribute(ctypes.byref(major), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY[0], device)
    cuda.cuDeviceGetAttribute(ctypes.byref(minor), CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY[1], device)
    return label.value.decode("utf-8", "replace"), (major.value, minor.value)


def int8_supported(capability: Tuple[int, int]) -> bool:
    """Whether TensorRT has INT8 kernels for a GPU of this CUDA compute capability."""
    return tuple(capability) == (6, 1) or tuple(capability) >= (7, 0)


def require_int8(gpu: str, capability: Tuple[int, int]) -> None:
    """ModeUnavailable where ``trt-int8`` cannot run: a GPU without INT8 kernels, or an
    onnxruntime that cannot write calibration tables."""
    if not int8_supported(capability):
        raise ModeUnavailable("TensorRT has no INT8 kernels for %s (compute capability %d.%d)"
                              % (gpu, capability[0], capability[1]))
    try:
        from onnxruntime.quantization import CalibraterBase
    except ImportError as e:  # it needs the onnx package
        raise ModeUnavailable("INT8 calibration needs onnxruntime.quantization (%s)" % e)
    if not hasattr(CalibraterBase, "compute_data"):
        raise ModeUnavailable("INT8 calibration needs a newer onnxruntime (one with CalibraterBase.compute_data)")


def symmetric(ranges: Any) -> Any:
    """Ranges as TensorRT takes them, -m..m with m the largest magnitude seen. The table
    writer keeps max(lowest, highest) instead, which is 0 for a tensor that is never
    positive (log-probabilities) and negative for one that is always negative. Tensors
    that were always 0 are left out (TensorRT keeps them in higher precision)."""
    import numpy as np
    from onnxruntime.quantization.calibrate import TensorData, TensorsData

    out = {}
    for name, tensor in ranges.items():
        m = float(max(np.abs(tensor.lowest).max(), np.abs(tensor.highest).max()))
        if m > 0:
            out[name] = TensorData(lowest=np.array(-m, np.float32), highest=np.array(m, np.float32))
    return TensorsData(ranges.calibration_method, out)


def calibration_reader(feeds: Sequence[Dict[str, Any]]) -> Any:
    """An onnxruntime.quantization CalibrationDataReader over ``feeds`` (input name -> array, one per run)."""
    from onnxruntime.quantization import CalibrationDataReader

    class Feeds(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(feeds)

        def get_next(self) -> Optional[Dict[str, Any]]:
            return next(self.items, None)

    return Feeds()


def calibration_table(model: str, feeds: Sequence[Dict[str, Any]], root: str) -> str:
    """Activation ranges of the ONNX graph ``model`` over ``feeds`` (input name -> array),
    measured on the CPU and written as ``CALIBRATION_TABLE`` into ``root/<sha256 of the
    table>/``, which is returned: the TensorRT provider reads the table from its engine
    cache folder, so that folder is keyed by the ranges and new ranges get new engines."""
    import shutil
    import tempfile

    from onnxruntime.quantization import create_calibrator, write_calibration_table

    os.makedirs(root, exist_ok=True)
    work = tempfile.mkdtemp(dir=root)
    try:
        calibrator = create_calibrator(model, augmented_model_path=os.path.join(work, "augmented.onnx"))
        calibrator.collect_data(calibration_reader(feeds))
        write_calibration_table(symmetric(calibrator.compute_data()), dir=work)
        with open(os.path.join(work, CALIBRATION_TABLE), "rb") as f:
            folder = os.path.join(root, hashlib.sha256(f.read()).hexdigest()[:16])
        os.makedirs(folder, exist_ok=True)
        os.replace(os.path.join(work, CALIBRATION_TABLE), os.path.join(folder, CALIBRATION_TABLE))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def calibrated_caches(paths: Sequence[str], feeds: Sequence[Sequence[Dict[str, Any]]], engines: str) -> List[str]:
    """For each graph in ``paths`` and its calibration ``feeds``, the engine cache holding
    its table: ``engines/<graph name>/<table hash>/``."""
    return [calibration_table(path, graph_feeds, os.path.join(engines, os.path.splitext(os.path.basename(path))[0]))
            for path, graph_feeds in zip(paths, feeds)]


def torch_export_tag(torch) -> str:
    """What an export from PyTorch depends on besides the weights: torch and the opset."""
    return "torch%s-opset%d" % (torch.__version__, opset(torch))


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
    options = {"trt_fp16_enable": mode in ("trt-fp16", "trt-int8"), "trt_engine_cache_enable": True,
               "trt_engine_cache_path": cache, "trt_max_workspace_size": WORKSPACE_BYTES}
    if mode == "trt-int8":
        options.update({"trt_int8_enable": True, "trt_int8_calibration_table_name": CALIBRATION_TABLE,
                        "trt_int8_use_native_calibration_table": False})
    for i, bound in enumerate(("min", "opt", "max")):
        if profiles:
            options["trt_profile_%s_shapes" % bound] = ",".join(
                "%s:%s" % (name, "x".join(str(int(d)) for d in shapes[i])) for name, shapes in sorted(profiles.items()))
    return [("TensorrtExecutionProvider", options), "CUDAExecutionProvider"]


_pool = {"wanted": False, "shared": None}  # type: Dict[str, Optional[bool]]


def share_threads() -> None:
    """Ask that this process's sessions (``session``) share one intra-op thread pool (ONNX
    Runtime's global pool: the cell's ``threads``, else one thread per physical core), made
    with the first of them. An adapter holds several sessions (the reader: detector and
    recogniser, one after the other for every image); each with a pool of its own, the
    pools' threads either spin after a run and take the cores from one another (the
    reader's detector: 21 ms against 13 ms without) or sleep and must be woken for every
    operator (fots-lite read a crop in 7.5-8.5 ms with pools of their own that did not spin,
    6.1-7.0 ms sharing one; 2-core AMD EPYC, docs/our-reader.md, "Lean"). ONNX Runtime
    then refuses sessions with pools of their own, so only a process whose every session
    comes from ``session`` asks: the worker, in an adapter's ``onnx_cpu_modes`` (every
    engine whose sessions the harness makes: PP-OCRv6 and RapidOCR, 66 ms either way, as
    well as the reader; not in GPU modes, whose sessions leave the CPU little to do and
    where a TensorRT INT8 cell's calibrator makes sessions of its own)."""
    _pool["wanted"] = True


def shared_pool(onnxruntime) -> bool:
    """Whether this process's sessions share one pool (``share_threads``); decided once:
    False where it was not asked for or onnxruntime has no global pool."""
    if _pool["shared"] is None:
        setter = getattr(onnxruntime, "set_global_thread_pool_sizes", None)
        shared = bool(_pool["wanted"]) and setter is not None
        if shared:
            try:
                setter(threads() or 0, 1)
            except Exception:  # an onnxruntime whose environment refuses it
                shared = False
        _pool["shared"] = shared
    return bool(_pool["shared"])


def session(path: str, mode: str, cache: str = "", profiles: Optional[Profiles] = None) -> Any:
    """An InferenceSession for one ONNX file in ``mode``; TensorRT engines under ``cache``;
    on the process's shared thread pool where ``share_threads`` asked for one."""
    import onnxruntime

    chosen = providers(mode, onnxruntime.get_available_providers(), cache, profiles)
    if cache:
        os.makedirs(cache, exist_ok=True)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if shared_pool(onnxruntime):
        options.use_per_session_threads = False
    else:  # pools of their own that do not spin (share_threads says why)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads() is not None:  # the cell's setting; ONNX Runtime's own default is one thread per physical core
            options.intra_op_num_threads = threads()
    # No memory pattern: planned per input shape and kept, it holds a block for every canvas
    # and line width seen (the reader on the embedded set: 117 against 86 MB above the images
    # it read, at the same speed).
    options.enable_mem_pattern = False
    out = onnxruntime.InferenceSession(path, sess_options=options, providers=chosen)
    first = chosen[0] if isinstance(chosen[0], str) else chosen[0][0]
    if first not in out.get_providers():
        raise ModeUnavailable("onnxruntime could not start %s for %s" % (first, os.path.basename(path)))
    return out


def describe(mode: str, cache: str) -> Dict[str, str]:
    """What a run should record about the sessions: runtime version, providers, threads, engine cache."""
    import onnxruntime

    info = {"onnxruntime": onnxruntime.__version__, "onnx-providers": ",".join(PROVIDERS[mode]),
            "onnx-threads": "%s, %s" % (threads() or "one per physical core",
                                        "one pool shared by the sessions" if shared_pool(onnxruntime) else
                                        "a pool per session, not spinning")}
    if mode.startswith("trt"):
        info.update({"tensorrt": tensorrt_version(), "trt-engine-cache": cache})
    return info
