"""Trust, round three (issue #24): statistics that count images, not passes; settings,
suites and manifests that used to be accepted silently or end in a traceback; the reporter
and fine-tuning on bad folders and files. Real runner, worker and reporter processes on real
files, as in tests/test_trust.py."""
import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from bench.report.load import cell_label
from tests.conftest import REPO, bench, run_folder, write_suite
from tests.test_trust import ECHO, copy_dataset, summary


def report(*args):
    return subprocess.run([sys.executable, "-m", "bench.report"] + [str(a) for a in args], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)


@pytest.fixture
def ten_images(tmp_path):
    """Ten different images: four whose truth is 'LOT 123', six 'EXP 1'."""
    root = tmp_path / "ten"
    (root / "img").mkdir(parents=True)
    rows = ["image,text"]
    for i in range(10):
        cv2.imwrite(str(root / "img" / ("%d.png" % i)), np.random.default_rng(i).integers(0, 255, (30, 90), np.uint8))
        rows.append("img/%d.png,%s" % (i, "LOT 123" if i < 4 else "EXP 1"))
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return str(root)


# 1. passes repeat timing, not evidence --------------------------------------------------------
def test_passes_count_images_in_accuracy_intervals_and_paired_tests_and_a_changing_reading_is_warned(
        tmp_path, ten_images):
    suite = write_suite(tmp_path / "suite.json", {
        "lot": ECHO, "exp": dict(ECHO, options={"text": "EXP 1"}),
        "flaky": dict(ECHO, adapter="tests.fault_adapters:Flaky")}, warmup=0, telemetry_interval_s=0, grammar="none")
    proc = bench("--config", suite, "--dataset", ten_images, "--passes", 3, "--results", tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    folder = run_folder(tmp_path / "results")
    rows = summary(folder)
    assert rows[("lot", "cpu")]["n"] == "10" and float(rows[("lot", "cpu")]["strict_acc"]) == pytest.approx(0.4)
    assert rows[("exp", "cpu")]["n"] == "10" and float(rows[("exp", "cpu")]["strict_acc"]) == pytest.approx(0.6)
    assert float(rows[("flaky", "cpu")]["strict_acc"]) == pytest.approx(0.4)  # its first pass, as lot
    proc = report(folder, "--out", tmp_path / "report", "--no-references")
    assert proc.returncode == 0, proc.stderr
    with open(str(tmp_path / "report" / "tables" / "paired.csv")) as f:
        paired = {(r["A"], r["B"]): r for r in csv.DictReader(f)}
    pair = next(r for (a, b), r in paired.items() if a.startswith("lot ") and b.startswith("exp "))
    assert (pair["shared samples"], pair["only A right"], pair["only B right"]) == ("10", "4", "6")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "flaky %s read 10 of its 10 images differently in different passes" % cell_label(
        rows[("lot", "cpu")].get("device") or os.path.basename(os.path.dirname(folder)), "cpu") in text
    assert "intervals over images" in text


# 2. a grammar's text column is text --------------------------------------------------------------
def test_a_run_with_a_code_grammar_reports_without_a_warning_about_its_text_column(tmp_path, ten_images):
    (tmp_path / "grammar.txt").write_text("code: LOT {9:3}\ncode: EXP {9}\n")
    suite = write_suite(tmp_path / "suite.json", {"lot": ECHO}, warmup=0, telemetry_interval_s=0,
                        grammar=str(tmp_path / "grammar.txt"))
    assert bench("--config", suite, "--dataset", ten_images, "--results", tmp_path / "results").returncode == 0
    proc = report(tmp_path / "results", "--out", tmp_path / "report", "--no-references")
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "pred_grammar" not in text and "not numbers" not in text


# 3-5, 10. settings and suites refused before any cell runs --------------------------------------
@pytest.mark.parametrize("engines, extra, message", [
    ({"charcls": {"modes": ["cpu"], "options": {"reject_below": 2}}}, {},
     "engines.charcls.options: reject_below: a number from 0 to 1, got 2"),
    ({"echo": dict(ECHO, modes=["cpu", "cpu"])}, {}, "engines.echo.modes: cpu named more than once"),
    ({"echo": dict(ECHO, scenario="multi-stream", streams=2, rate_fps=float("inf"))}, {},
     "engines.echo.rate_fps: multi-stream needs each camera's frames per second, a finite number > 0, got inf"),
    ({"echo": dict(ECHO, adapter=":Adapter")}, {}, "engines.echo.adapter: ':Adapter' is not 'package.module:Class'"),
    ({"echo": dict(ECHO, adapter="os:path")}, {}, "engines.echo.adapter: os:path is not an adapter"),
    ({"echo": dict(ECHO, adapter="syntax_error_adapter:Adapter")}, {},
     "engines.echo.adapter: syntax_error_adapter:Adapter cannot be loaded (SyntaxError"),
    ({"echo": dict(ECHO, adapter="raising_adapter:Adapter")}, {},
     "engines.echo.adapter: raising_adapter:Adapter cannot be loaded (RuntimeError: this engine's module"),
    (["echo"], {}, "engines: a mapping of engine names to their settings"),
])
def test_settings_and_suites_that_cannot_be_right_stop_the_run_naming_the_key(tmp_path, small_dataset, engines,
                                                                              extra, message, monkeypatch):
    modules = tmp_path / "modules"  # adapter modules that break on import, where the runner imports from
    modules.mkdir()
    (modules / "syntax_error_adapter.py").write_text("def broken(:\n")
    (modules / "raising_adapter.py").write_text("raise RuntimeError(\"this engine's module fails on import\")\n")
    monkeypatch.setenv("PYTHONPATH", str(modules))
    suite = tmp_path / "suite.yaml"
    suite.write_text(json.dumps(dict(extra, engines=engines, warmup=0)).replace("Infinity", ".inf"))
    proc = bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not os.path.exists(str(tmp_path / "results"))


def test_an_engine_that_decodes_in_the_run_s_grammar_is_skipped_with_the_reason_when_there_is_none(tmp_path,
                                                                                                    small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"fots-grammar": {
        "adapter": "adapters.fots:Adapter", "modes": ["onnx-cpu"], "options": {"grammar": "run"}}}, warmup=0,
        telemetry_interval_s=0)
    proc = bench("--config", suite, "--dataset", small_dataset, "--grammar", "none", "--results", tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    row = summary(run_folder(tmp_path / "results"))[("fots-grammar", "onnx-cpu")]
    assert row["status"] == "skipped" and "this run has none" in row["reason"]


# 6-9. manifests that used to be read silently ----------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ("image,text,x,y,w,h\nimg/000000.jpg,LOT,1,1,20,20\nimg/000001.jpg\n",
     "manifest.csv row 3: 1 field(s) where the header has 6 (no text, x, y, w, h)"),
    ("image,text\nimg/000000.jpg,\"LOT 1\nimg/000001.jpg,EXP 2\n",
     "manifest.csv row 2: not valid CSV (unexpected end of data; a quote (\") opened here is never closed)"),
    ("image,text,text\nimg/000000.jpg,A,B\n", "manifest.csv: the header names column(s) text more than once"),
    ("image,text,x,y,w,h\nimg/000000.jpg,LOT,1,1,inf,20\n",
     "manifest.csv row 2: box x,y,w,h must be four finite numbers, got '1,1,inf,20'"),
    ("image,text,x,y,w,h\nimg/000000.jpg,LOT,1,1,1e400,20\n",
     "manifest.csv row 2: box x,y,w,h must be four finite numbers, got '1,1,1e400,20'"),
])
def test_manifests_with_short_rows_open_quotes_twice_named_columns_or_endless_boxes_are_refused(
        tmp_path, small_dataset, text, message):
    data = copy_dataset(small_dataset, tmp_path)
    with open(os.path.join(data, "manifest.csv"), "w") as f:
        f.write(text)
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0)
    proc = bench("--config", suite, "--dataset", data, "--results", tmp_path / "results")
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not os.path.exists(str(tmp_path / "results"))


# 11-12. the reporter -------------------------------------------------------------------------------
def test_the_reporter_names_a_folder_it_cannot_write_and_a_run_folder_without_run_json(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
    for device in ("a", "b"):
        assert bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results",
                     "--device", device).returncode == 0
    (tmp_path / "file").write_text("not a folder")
    proc = report(tmp_path / "results", "--out", tmp_path / "file" / "report", "--no-references")
    assert proc.returncode == 2 and "cannot write the report into %s" % (tmp_path / "file" / "report") in proc.stderr
    assert "Traceback" not in proc.stderr
    os.remove(os.path.join(run_folder(tmp_path / "results" / "b"), "run.json"))
    proc = report(tmp_path / "results", "--out", tmp_path / "report", "--no-references")
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "holds samples.csv, summary.csv, cells.json but no run.json, so it is left out of this report" in text


# 15-16. what a reader of the report and of --help sees --------------------------------------------
def test_confusions_wrap_into_a_legible_grid_and_a_rejected_character_is_named(tmp_path):
    from PIL import Image

    from bench.report import plots
    from bench.report.plots import plt

    per_engine = {"engine-%d" % i: [("0", "O", 5), ("1", "\ufffd", 3)] for i in range(8)}
    path = plots.confusions(per_engine, str(tmp_path / "confusions.png"))
    width, height = Image.open(path).size
    dpi = plt.rcParams["savefig.dpi"]
    assert width / dpi <= 7.5 and height / dpi <= 15, (width, height)  # 2 panels a row, not 8 in one
    assert plots._char("\ufffd") == "rejected"


def test_help_lists_every_mode_and_finetune_names_its_default_folder():
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--help"], cwd=REPO, stdout=subprocess.PIPE,
                          universal_newlines=True)
    assert "gpu-fp16" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "models.fots.finetune", "--help"], cwd=REPO, stdout=subprocess.PIPE,
                          universal_newlines=True)
    assert "(default: )" not in proc.stdout and "results/fots-weights/<the dataset" in " ".join(proc.stdout.split())


def test_a_resume_refused_for_a_changed_image_names_the_image(tmp_path, small_dataset):
    data = copy_dataset(small_dataset, tmp_path)
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
    assert bench("--config", suite, "--dataset", data, "--results", tmp_path / "results").returncode == 0
    with open(os.path.join(data, "img", "000003.jpg"), "ab") as f:
        f.write(b"\0")
    proc = bench("--resume", run_folder(tmp_path / "results"))
    assert proc.returncode == 2 and "have changed, appeared or gone: img/000003.jpg (changed)" in proc.stderr


# 13-14. fine-tuning on a user's photos ---------------------------------------------------------
def _photos(root, count=6):
    (root / "img").mkdir(parents=True, exist_ok=True)
    rows = ["image,text,x,y,w,h,split"]
    for i in range(count):
        pixels = np.full((60, 200), 220, np.uint8)
        cv2.putText(pixels, "LOT %d" % i, (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 2)
        cv2.imwrite(str(root / "img" / ("%d.jpg" % i)), pixels)
        rows.append("img/%d.jpg,LOT %d,5,10,150,40," % (i, i))
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return str(root)


def finetune(*args):
    return subprocess.run([sys.executable, "-m", "models.fots.finetune"] + [str(a) for a in args], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600)


def test_fine_tuning_refuses_a_truncated_jpeg_by_file_and_row(tmp_path):
    photos = _photos(tmp_path / "photos")
    path = os.path.join(photos, "img", "3.jpg")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])
    proc = finetune(photos, "--out", tmp_path / "out", "--steps", 1)
    assert proc.returncode == 2 and "manifest.csv row 5: cannot decode image %s" % path in proc.stderr, proc.stderr
    assert not os.path.exists(str(tmp_path / "out"))


def test_fine_tuning_into_a_folder_of_another_manifest_s_run_is_refused_with_or_without_resume(tmp_path):
    first, second = _photos(tmp_path / "first"), _photos(tmp_path / "second", 7)
    out = tmp_path / "out"
    proc = finetune(first, "--out", out, "--steps", 2, "--valid-every", 2, "--valid", 2, "--batch", 4,
                    "--workers", 0)
    assert proc.returncode == 0, proc.stderr
    with open(str(out / "config.json")) as f:
        config = json.load(f)
    for resume in ([], ["--resume"]):
        proc = finetune(second, "--out", out, "--steps", 4, *resume)
        assert proc.returncode == 2 and "holds a fine-tuning run on another manifest" in proc.stderr, proc.stderr
        with open(str(out / "config.json")) as f:
            assert json.load(f) == config  # untouched
    proc = finetune(first, "--out", out, "--steps", 4, "--valid-every", 2, "--valid", 2, "--batch", 4, "--workers", 0)
    assert proc.returncode == 0 and "continuing the fine-tuning of" in proc.stderr, proc.stderr
    with open(str(out / "config.json")) as f:
        assert json.load(f)["steps"] == 4  # it went on from step 2
