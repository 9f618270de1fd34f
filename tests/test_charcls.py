"""The two-stage reader (models/charcls, adapters/charcls.py): characters grouped into lines
and words on hand-made boxes, the committed classifier reading embedded frames in PyTorch
and ONNX Runtime, and the reject option through a real benchmark run."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from adapters.base import REJECT, join_reading_order
from bench import metrics
from models.charcls import reader, segment
from tests.conftest import EMBEDDED, REPO, bench, run_folder, write_suite


def test_characters_group_into_lines_in_reading_order_and_words_at_wide_gaps():
    # two lines given bottom line first and out of order; a short '-' and a low '.' in line 1
    top = [(40, 10, 56, 40), (0, 10, 16, 40), (20, 10, 36, 40), (60, 22, 68, 28), (72, 34, 76, 40),
           (110, 10, 126, 40)]  # a gap of 34 px after '.', wider than 1.0 x 30 px: a new word
    bottom = [(20, 60, 36, 88), (0, 62, 16, 90)]
    lines = segment.layout(bottom + top, 200, 100)
    assert [[b[0] for b in line.marks] for line in lines] == [[0, 20, 40, 60, 72, 110], [0, 20]]
    assert lines[0].words == [0, 5] and lines[1].words == [0]
    cells = lines[0].cells
    assert cells[0][0] == 0 and cells[0][2] == 18 and cells[1][0] == 18  # halfway between neighbours
    assert all(c[1] == cells[0][1] and c[3] == cells[0][3] for c in cells)  # one height per line: '-' and '.' keep their place
    assert cells[0][1] < 10 and cells[0][3] > 40


def test_a_character_between_two_lines_joins_the_one_its_centre_falls_in():
    lines = segment.group_lines([(0, 0, 10, 20), (12, 0, 22, 20), (24, 14, 30, 22), (0, 40, 10, 60)])
    assert [len(line) for line in lines] == [3, 1]


def _blob(shape, cx, cy, peak, sx=3.0, sy=5.0):
    y, x = np.mgrid[:shape[0], :shape[1]]
    return peak * np.exp(-((x - cx) ** 2 / (2 * sx ** 2) + (y - cy) ** 2 / (2 * sy ** 2)))


def test_region_map_marks_split_joined_characters_and_keep_faint_print():
    shape = (32, 120)
    region = (_blob(shape, 10, 16, 0.9, 4, 4) + _blob(shape, 22, 16, 0.9, 4, 4)  # two characters the map joins at 0.5
              + _blob(shape, 60, 16, 0.35) + _blob(shape, 80, 16, 0.3)  # faint print: below 0.5, far above 0.15
              ).astype(np.float32)
    assert (region[16, 10:23] > 0.5).all()
    found = sorted(segment.marks(region, 0.5))
    assert len(found) == 4, found
    assert found[0][2] <= found[1][0] and 2 * 10 < found[1][0] < 2 * 22  # cut between the two peaks, in input pixels
    assert segment.marks(np.full(shape, 0.1, np.float32), 0.5) == []  # background, however even


@pytest.fixture(scope="module")
def adapter():
    from bench.worker import adapter_class

    found = adapter_class("adapters.charcls:Adapter")()
    found.load("cpu", {})
    return found


def _frames(count):
    from bench.dataset import decode, open_dataset, read_bytes

    return [(decode(read_bytes(e), e), e.text) for e in open_dataset(EMBEDDED).entries[:count]]


def test_committed_classifier_reads_embedded_frames_with_a_confidence_per_character(adapter):
    config = reader.config()
    assert config["cells"] > 0 and "command" in config
    assert os.path.getsize(os.path.join(reader.WEIGHTS, "model.pt")) < 5 * 2 ** 20
    counts = []
    for gray, text in _frames(20):
        words = adapter.infer(adapter.preprocess(gray))
        assert all(len(w.confidences) == len(w.text) and w.score == min(w.confidences) for w in words)
        assert all(0 < c <= 1 for w in words for c in w.confidences)
        counts.append(metrics.counts(metrics.normalize(join_reading_order(words)), metrics.normalize(text)))
    scores = metrics.corpus(counts)
    assert scores["strict_acc"] >= MIN_EXACT_20 and scores["cer"] <= 0.05, scores


def test_onnx_graphs_read_as_pytorch_does_without_torch(adapter, tmp_path):
    """The graphs are made once by a command (``make bench`` runs it); the ONNX cell without
    them is skipped naming it, and with them loads and reads with no torch in its process."""
    import shutil

    from adapters.base import ModeUnavailable
    from bench.worker import adapter_class
    from models.charcls import export

    other = str(tmp_path / "weights")
    shutil.copytree(reader.WEIGHTS, other)
    with open(os.path.join(other, "model.pt"), "ab") as f:  # weights whose graphs were never made
        f.write(b"\0")
    with pytest.raises(ModeUnavailable, match="python -m models.charcls.export --weights %s" % other):
        adapter_class("adapters.charcls:Adapter")().load("onnx-cpu", {"weights": other})
    assert export.make() == reader.graphs()
    script = """
import json, sys
from adapters.base import join_reading_order
from bench import worker
from bench.dataset import decode, open_dataset, read_bytes
entry = open_dataset(sys.argv[1]).entries[0]
adapter = worker.adapter_class("adapters.charcls:Adapter")()
adapter.load("onnx-cpu", {})
words = adapter.infer(adapter.preprocess(decode(read_bytes(entry), entry)))
print(json.dumps([join_reading_order(words), sorted(m for m in sys.modules if m.split(".")[0] == "torch")]))
"""
    proc = subprocess.run([sys.executable, "-c", script, EMBEDDED], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, env=dict(os.environ, PYTHONPATH=REPO))
    assert proc.returncode == 0, proc.stderr[-3000:]
    text, torch_modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert torch_modules == [] and text
    onnx = adapter_class("adapters.charcls:Adapter")()
    onnx.load("onnx-cpu", {})
    assert [os.path.basename(f) for f in onnx.model_files()] == ["craft.onnx", "classifier.onnx"]
    for gray, _ in _frames(3):
        a, b = adapter.infer(gray), onnx.infer(gray)
        assert [w.text for w in a] == [w.text for w in b]
        assert np.allclose([c for w in a for c in w.confidences], [c for w in b for c in w.confidences], atol=1e-3)


def test_reject_below_marks_unsure_characters_and_the_run_counts_them_apart(adapter, tmp_path):
    gray, _ = _frames(1)[0]
    assert all(set(w.text) == {REJECT} for w in reader_words(gray, 1.01))  # nothing is that sure
    assert all(REJECT not in w.text for w in reader_words(gray, 0.0))

    suite = write_suite(tmp_path / "suite.json", {"charcls": {"modes": ["cpu"], "options": {"reject_below": 0.9}}},
                        warmup=1, telemetry_interval_s=0)
    proc = bench("--config", suite, "--limit", "12", "--results", tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    folder = run_folder(tmp_path / "results")
    with open(os.path.join(folder, "samples.csv"), encoding="utf-8") as f:
        samples = list(csv.DictReader(f))
    with open(os.path.join(folder, "summary.csv")) as f:
        row = next(csv.DictReader(f))
    rejected = sum(REJECT in s["pred"] for s in samples)
    right = sum(s["correct"] == "1" for s in samples)
    assert row["status"] == "ok" and int(row["n_rejected"]) == rejected
    assert right + rejected + int(row["n_wrong"]) == 12

    out = tmp_path / "report"
    report = subprocess.run([sys.executable, "-m", "bench.report", folder, "--out", str(out)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert report.returncode == 0, report.stderr
    text = (out / "report.md").read_text(encoding="utf-8")
    assert rejected and "| %d " % rejected in text.split("## Rejected readings")[1]  # 0.9 declines a few


def reader_words(gray, reject_below):
    from models.charcls import net

    classifier, vocab = net.load_classifier(reader.WEIGHTS)
    backend = net.TorchBackend(net.load_craft(), classifier, "cpu")
    return reader.read(backend.detect, backend.classify, vocab, gray, 0.5, reject_below)


MIN_EXACT_20 = 0.6  # the committed weights read 70% of the first 20 embedded frames (CER 2.4%); two frames of margin
