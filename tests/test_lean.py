"""The reader's lean path: its ONNX cells run from the graphs shipped beside its weights
(models/fots/graphs.py), never import torch, and read what PyTorch reads."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from adapters.base import ModeUnavailable, join_reading_order
from bench import metrics
from bench.dataset import decode as decode_image, open_dataset, read_bytes
from bench.worker import adapter_class
from models.fots import graphs, reader
from tests.conftest import EMBEDDED, REPO

ADAPTER = "adapters.fots:Adapter"


def readings(mode: str, options: dict, entries) -> list:
    adapter = adapter_class(ADAPTER)()
    adapter.load(mode, options)
    return [join_reading_order(adapter.infer(adapter.preprocess(decode_image(read_bytes(e), e)))) for e in entries]


def test_onnx_cells_never_import_torch():
    """What a Jetson's worker runs for ``fots/onnx-cpu`` and ``fots-int8/onnx-cpu``: the
    worker module, the adapter, a reading and the environment it records, with no torch in
    the process (about 480 MB of memory by itself)."""
    script = """
import json, sys
from adapters.base import join_reading_order
from bench import worker
from bench.dataset import decode, open_dataset, read_bytes
entry = open_dataset(sys.argv[1]).entries[0]
out = {}
for precision in ("fp32", "int8"):
    adapter = worker.adapter_class("adapters.fots:Adapter")()
    adapter.load("onnx-cpu", {"precision": precision})
    words = adapter.infer(adapter.preprocess(decode(read_bytes(entry), entry)))
    out[precision] = [join_reading_order(words), worker.environment(adapter)["packages"]["fots-graphs"]]
out["torch"] = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", script, EMBEDDED], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["torch"] == []
    assert out["fp32"][0] == open_dataset(EMBEDDED).entries[0].text
    assert "detector-int8.onnx" in out["int8"][1] and "detector.onnx" in out["fp32"][1]


def test_shipped_graphs_read_the_embedded_set_as_pytorch_does():
    entries = open_dataset(EMBEDDED).entries
    torch_read, onnx_read = readings("cpu", {}, entries), readings("onnx-cpu", {}, entries)
    assert sum(a != b for a, b in zip(torch_read, onnx_read)) == 0, \
        [(a, b) for a, b in zip(torch_read, onnx_read) if a != b]
    int8 = readings("onnx-cpu", {"precision": "int8"}, entries[:40])
    exact = [metrics.normalize(r) == metrics.normalize(e.text) for r, e in zip(int8, entries)]
    float_exact = [metrics.normalize(r) == metrics.normalize(e.text) for r, e in zip(onnx_read, entries)]
    assert sum(exact) >= sum(float_exact[:40]) - 2, (sum(exact), sum(float_exact[:40]))


def test_graphs_not_made_from_the_weights_are_refused_naming_the_command(tmp_path):
    folder = str(tmp_path / "weights")
    shutil.copytree(reader.WEIGHTS, folder)
    entry = graphs.record(folder)
    assert entry["model.pt"] == graphs.sha256(os.path.join(folder, "model.pt"))
    assert "calibration" in entry["graphs"]["detector-int8.onnx"]
    adapter = adapter_class(ADAPTER)()
    with open(os.path.join(folder, "model.pt"), "ab") as f:  # other weights than the graphs were made from
        f.write(b"\0")
    with pytest.raises(ModeUnavailable, match="made from another model.pt.*python -m models.fots.export --weights"):
        adapter.load("onnx-cpu", {"weights": folder})
    shutil.copy(os.path.join(reader.WEIGHTS, "model.pt"), os.path.join(folder, "model.pt"))
    with open(os.path.join(folder, "onnx", "recognizer.onnx"), "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModeUnavailable, match="recognizer.onnx is not the graph graphs.json records"):
        adapter.load("onnx-cpu", {"weights": folder})
    shutil.rmtree(os.path.join(folder, "onnx"))
    with pytest.raises(ModeUnavailable, match="has no ONNX graphs"):
        adapter.load("onnx-cpu", {"weights": folder})
    adapter.load("cpu", {"weights": folder})  # PyTorch reads model.pt itself
    proc = subprocess.run([sys.executable, "-m", "models.fots.export", "--weights", folder], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    adapter.load("onnx-cpu", {"weights": folder})
    with pytest.raises(ModeUnavailable, match="no onnx/detector-int8.onnx.*python -m models.fots.quantize"):
        adapter.load("onnx-cpu", {"weights": folder, "precision": "int8"})
    with pytest.raises(ModeUnavailable, match="precision int8: its graphs run in onnx-cpu only"):
        adapter.load("cpu", {"precision": "int8"})
