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
    with open(os.path.join(folder, "onnx", graphs.READS_UPRIGHT), "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModeUnavailable, match="recognizer-upright.onnx is not the graph graphs.json records"):
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


def test_one_pass_reads_a_line_and_its_way_up_as_the_two_graphs_do(tmp_path):
    """``recognizer-upright.onnx``: the recogniser and the upright classifier's head on the
    convolutions they share, one pass instead of two; the adapter takes it only while it was
    made with the upright weights now beside the reader, and reads the same either way."""
    from models.fots import upright

    adapter = adapter_class(ADAPTER)()
    adapter.load("onnx-cpu", {})
    assert [os.path.basename(p) for p in adapter._files] == ["detector.onnx", graphs.READS_UPRIGHT]
    assert adapter._backend.reads_upright and adapter._backend.upright is adapter._backend.rec
    assert graphs.reads_upright(reader.WEIGHTS, upright.WEIGHTS)
    other = str(tmp_path / "upright")
    shutil.copytree(upright.WEIGHTS, other)
    with open(os.path.join(other, "model.pt"), "ab") as f:  # another upright network than the graph's
        f.write(b"\0")
    assert not graphs.reads_upright(reader.WEIGHTS, other)
    two = adapter_class(ADAPTER)()
    two.load("onnx-cpu", {})
    from adapters import onnx_runtime

    two._backend = reader.OnnxBackend(two._backend.det, onnx_runtime.session(
        os.path.join(reader.WEIGHTS, "onnx", "recognizer.onnx"), "onnx-cpu"), onnx_runtime.session(
        os.path.join(upright.WEIGHTS, "onnx", "upright.onnx"), "onnx-cpu"))
    assert not two._backend.reads_upright
    entries = open_dataset(EMBEDDED).entries[:30]
    upside_down = [decode_image(read_bytes(e), e)[::-1, ::-1].copy() for e in entries[:4]]
    images = [decode_image(read_bytes(e), e) for e in entries] + upside_down
    one = [join_reading_order(adapter.infer(adapter.preprocess(im))) for im in images]
    assert one == [join_reading_order(two.infer(two.preprocess(im))) for im in images]
    # the one pass counts as recognition in the stage times (decoding alone takes a tenth of a ms)
    assert adapter.stage_ms["rec"] > 0.3 and two.stage_ms["rec"] > 0.3, (adapter.stage_ms, two.stage_ms)
    # the upside-down copies were turned over and read (their lines may come in another order)
    assert sum(bool(set(a.split()) & set(b.split())) for a, b in zip(one[-4:], one[:4])) >= 3, one


def test_a_lighter_detector_trains_behind_the_readers_recogniser(tmp_path):
    """`python -m models.fots.train_detector`: MobileNetV3-small at half resolution learns
    from generated frames and from real photographs marked by the committed detector; the
    recogniser is the committed one, untouched; the folder ends with the graphs the ONNX
    cells read, the one-pass recogniser among them."""
    import csv

    import torch

    photos = tmp_path / "photos"
    os.makedirs(str(photos / "img"))
    source = os.path.join(REPO, "datasets", "real-useby", "train")
    with open(os.path.join(source, "manifest.csv"), newline="") as f:
        rows = list(csv.DictReader(f))[:3]
    for row in rows:
        shutil.copy(os.path.join(source, row["image"]), str(photos / row["image"]))
    with open(str(photos / "manifest.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "lite"
    proc = subprocess.run([sys.executable, "-m", "models.fots.train_detector", "--out", str(out), "--steps", "2",
                           "--batch", "4", "--real", str(photos), "--real-share", "0.5", "--valid", "2",
                           "--valid-every", "2", "--log-every", "1", "--workers", "0", "--first-frame", "300000"],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = [json.loads(line) for line in open(str(out / "train.log"))]
    assert [e["step"] for e in log if "loss" in e] == [1, 2] and all(e["loss"] > 0 for e in log if "loss" in e)
    config = json.loads((out / "config.json").read_text())
    assert config["backbone"] == "mnv3s" and config["recognizer"] == "pixels" and config["real"]["photos"] == 3
    # the steps of the recogniser's kept weights (its best validation), not of its run's last step
    assert config["recognizer_steps"] == 51000 and config["train_start"] == 300000
    mine, committed = torch.load(str(out / "model.pt")), torch.load(os.path.join(reader.WEIGHTS, "model.pt"))
    assert all(torch.equal(mine[k], committed[k]) for k in committed if k.startswith("lines."))
    assert {"detector.onnx", graphs.READS_UPRIGHT} <= set(graphs.record(str(out))["graphs"])
    adapter = adapter_class(ADAPTER)()
    adapter.load("onnx-cpu", {"weights": str(out)})
    assert adapter._backend.reads_upright and "MNV3S" in adapter.model_name
    assert adapter.versions()["fots-weights"].endswith("detector 2 steps, recogniser 51000 steps")
    entry = open_dataset(EMBEDDED).entries[0]
    assert isinstance(join_reading_order(adapter.infer(adapter.preprocess(decode_image(read_bytes(entry), entry)))), str)
    proc = subprocess.run([sys.executable, "-m", "models.fots.train_detector", "--out", str(tmp_path / "no"),
                           "--first-frame", "5000"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode == 2 and "--first-frame 5000: training frames start at 10000" in proc.stderr


def test_a_readers_decoding_is_chosen_on_validation_frames_and_read_with_its_weights(tmp_path):
    """`python -m models.fots.tune_decoding --write`: the grid scored on the benchmark
    generator's validation frames (never the embedded set), the best setting recorded in the
    weights' config.json with what it was chosen on; the adapter reads with it, and a
    suite's ``threshold`` option still has the last word on the threshold."""
    from models.fots import decode

    folder = str(tmp_path / "lite")
    shutil.copytree(os.path.join(REPO, "models", "fots", "weights", "fots-lite"), folder)
    photos = str(tmp_path / "photos")
    os.makedirs(os.path.join(photos, "img"))
    source = os.path.join(REPO, "datasets", "real-useby", "train")
    with open(os.path.join(source, "manifest.csv")) as f:
        rows = f.read().splitlines()[:4]
    for row in rows[1:]:
        shutil.copy(os.path.join(source, row.split(",")[0]), os.path.join(photos, row.split(",")[0]))
    with open(os.path.join(photos, "manifest.csv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    proc = subprocess.run([sys.executable, "-m", "models.fots.tune_decoding", "--weights", folder, "--frames", "6",
                           "--photos", photos, "--write"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "| threshold | join | widen | taller | validation frames 5000-5005 exact % | 3 photographs exact % |" \
        in proc.stdout, proc.stdout
    chosen = json.load(open(os.path.join(folder, "config.json")))["decoding"]
    assert "validation frames 5000-5005" in chosen["chosen_on"] and "3 photographs of %s" % photos in chosen["chosen_on"]
    assert chosen["command"].endswith("--frames 6 --photos %s --write" % photos)
    adapter = adapter_class(ADAPTER)()
    adapter.load("onnx-cpu", {"weights": folder})
    assert adapter.decoding == decode.Decoding(chosen["threshold"], chosen["join"], chosen["widen"], chosen["taller"])
    adapter.load("onnx-cpu", {"weights": folder, "threshold": 0.7})
    assert adapter.decoding == decode.Decoding(0.7, chosen["join"], chosen["widen"], chosen["taller"])
    adapter.load("cpu", {})
    assert adapter.decoding == decode.Decoding()  # the reader's own config sets none
    proc = subprocess.run([sys.executable, "-m", "models.fots.tune_decoding", "--weights", folder, "--frames", "0"],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 2 and "--frames: 1 to 1000" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "models.fots.tune_decoding", "--weights", photos], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 2 and "is not a reader's weights folder" in proc.stderr and "Traceback" not in proc.stderr
    os.remove(os.path.join(photos, "img", rows[2].split(",")[0][4:]))  # a photograph gone
    proc = subprocess.run([sys.executable, "-m", "models.fots.tune_decoding", "--weights", folder, "--frames", "2",
                           "--photos", photos], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert proc.returncode == 2 and "manifest.csv row 3" in proc.stderr and "Traceback" not in proc.stderr
    shutil.rmtree(os.path.join(folder, "onnx"))
    proc = subprocess.run([sys.executable, "-m", "models.fots.tune_decoding", "--weights", folder], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 2 and "python -m models.fots.export" in proc.stderr and "Traceback" not in proc.stderr
