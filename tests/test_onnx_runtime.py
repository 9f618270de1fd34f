"""The ONNX Runtime helper's GPU decisions, testable without a GPU: which providers each mode
asks for, the reason a mode is skipped, and where TensorRT engines are cached; and the
sessions' thread pools."""
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import onnxruntime
import pytest

from adapters import onnx_runtime
from adapters.base import ModeUnavailable
from tests.conftest import REPO

GPU_BUILD = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


def test_tensorrt_modes_ask_for_tensorrt_then_cuda_with_the_precision_and_cache():
    fp32 = onnx_runtime.providers("trt-fp32", GPU_BUILD, "/cache/a")
    fp16 = onnx_runtime.providers("trt-fp16", GPU_BUILD, "/cache/b")
    assert [p if isinstance(p, str) else p[0] for p in fp16] == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    assert fp32[0][1]["trt_fp16_enable"] is False and fp16[0][1]["trt_fp16_enable"] is True
    assert fp16[0][1]["trt_engine_cache_enable"] is True and fp16[0][1]["trt_engine_cache_path"] == "/cache/b"
    assert "trt_profile_min_shapes" not in fp16[0][1]
    assert onnx_runtime.providers("gpu", GPU_BUILD) == ["CUDAExecutionProvider"]
    assert onnx_runtime.providers("onnx-cpu", GPU_BUILD) == ["CPUExecutionProvider"]


def test_dynamic_inputs_get_one_profile_so_nothing_is_rebuilt_while_timing():
    profiles = {"rois": ((1, 5), (2, 5), (16, 5)), "features": ((1, 64, 32, 128),) * 3}
    options = onnx_runtime.providers("trt-fp32", GPU_BUILD, "/c", profiles)[0][1]
    assert options["trt_profile_min_shapes"] == "features:1x64x32x128,rois:1x5"
    assert options["trt_profile_opt_shapes"] == "features:1x64x32x128,rois:2x5"
    assert options["trt_profile_max_shapes"] == "features:1x64x32x128,rois:16x5"


def test_a_missing_provider_skips_the_mode_and_says_which():
    with pytest.raises(ModeUnavailable, match="not TensorrtExecutionProvider, CUDAExecutionProvider.*onnxruntime-gpu"):
        onnx_runtime.providers("trt-fp16", ["CPUExecutionProvider"])
    with pytest.raises(ModeUnavailable, match="not TensorrtExecutionProvider \\(install onnxruntime-gpu built with TensorRT"):
        onnx_runtime.providers("trt-fp32", ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ModeUnavailable, match="no ONNX Runtime mode"):
        onnx_runtime.providers("trt-int4", GPU_BUILD)


def test_this_machine_skips_gpu_sessions_rather_than_running_them_on_the_cpu(tmp_path):
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has a CUDA build of onnxruntime")
    with pytest.raises(ModeUnavailable, match="onnxruntime here offers .*CPUExecutionProvider, not TensorrtExecutionProvider"):
        onnx_runtime.session(str(tmp_path / "never-opened.onnx"), "trt-fp16", str(tmp_path / "engines"))


def test_engines_are_cached_per_gpu_tensorrt_version_precision_and_shape():
    key = dict(root="/c", gpu="NVIDIA Tegra X1", trt="8.2.1.8", precision="fp16", shape=(1, 1, 128, 512))
    folder = onnx_runtime.engine_folder(**key)
    assert folder == "/c/NVIDIA_Tegra_X1-trt8.2.1.8-fp16-1x1x128x512"
    for change in ({"gpu": "NVIDIA H100 80GB HBM3"}, {"trt": "10.16.1.11"}, {"precision": "fp32"},
                   {"shape": (1, 1, 256, 1024)}):
        assert onnx_runtime.engine_folder(**dict(key, **change)) != folder


def test_exports_use_an_opset_the_installed_torch_can_write():
    class Torch:
        def __init__(self, version):
            self.__version__ = version

    assert onnx_runtime.opset(Torch("1.10.0")) == 13  # JetPack 4.6's torch
    assert onnx_runtime.opset(Torch("2.14.1+cu130")) == 17


def test_int8_asks_for_the_calibration_table_with_fp16_fallback_where_the_gpu_has_int8():
    options = onnx_runtime.providers("trt-int8", GPU_BUILD, "/cache/calibrated")[0][1]
    assert options["trt_int8_enable"] is True and options["trt_fp16_enable"] is True
    assert options["trt_int8_calibration_table_name"] == onnx_runtime.CALIBRATION_TABLE
    assert options["trt_int8_use_native_calibration_table"] is False
    assert "trt_int8_enable" not in onnx_runtime.providers("trt-fp16", GPU_BUILD, "/c")[0][1]
    # Jetson Nano 5.3, P100 6.0, TX2 6.2: no INT8 kernels; GTX 10x0 6.1, Xavier 7.2, Orin 8.7, H100 9.0: yes
    assert [onnx_runtime.int8_supported(c) for c in ((5, 3), (6, 0), (6, 2))] == [False] * 3
    assert all(onnx_runtime.int8_supported(c) for c in ((6, 1), (7, 2), (8, 7), (9, 0)))
    with pytest.raises(ModeUnavailable, match=r"no INT8 kernels for NVIDIA Tegra X1 \(compute capability 5\.3\)"):
        onnx_runtime.require_int8("NVIDIA Tegra X1", (5, 3))
    onnx_runtime.require_int8("NVIDIA H100", (9, 0))  # and this onnxruntime writes tables


def test_a_worker_that_asks_shares_one_thread_pool_between_its_sessions():
    """``share_threads`` (the worker asks for it for the reader's cells): the sessions share
    ONNX Runtime's global pool, which then refuses sessions with pools of their own (why only
    a process whose every session is the harness's asks); without it, pools of their own."""
    script = """
import json, sys
import onnxruntime
from adapters import onnx_runtime
graphs = "models/fots/weights/fots-lite/onnx/"
if sys.argv[1] == "share":
    onnx_runtime.share_threads()
onnx_runtime.session(graphs + "detector.onnx", "onnx-cpu")
onnx_runtime.session(graphs + "recognizer.onnx", "onnx-cpu")
try:
    onnxruntime.InferenceSession(graphs + "detector.onnx", providers=["CPUExecutionProvider"])
    own = "made"
except Exception as exc:
    own = str(exc)
print(json.dumps([onnx_runtime.describe("onnx-cpu", "")["onnx-threads"], own]))
"""
    out = {}
    for how in ("share", "own"):
        proc = subprocess.run([sys.executable, "-c", script, how], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ, PYTHONPATH=REPO))
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[how] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["share"][0] == "one per physical core, one pool shared by the sessions"
    assert "use_per_session_threads must be false" in out["share"][1]
    assert out["own"] == ["one per physical core, a pool per session, not spinning", "made"]


def test_an_onnxruntime_without_a_global_pool_keeps_pools_of_their_own(monkeypatch):
    monkeypatch.setattr(onnx_runtime, "_pool", {"wanted": True, "shared": None})
    assert onnx_runtime.shared_pool(SimpleNamespace()) is False  # JetPack's onnxruntime, were it to lack it
    monkeypatch.setattr(onnx_runtime, "_pool", {"wanted": False, "shared": None})
    assert onnx_runtime.shared_pool(onnxruntime) is False  # not asked: nothing set
