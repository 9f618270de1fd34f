"""The runner survives engines that crash, hang or raise, bad samples, and being killed."""
import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from bench.results import SampleLog, read_samples
from tests.conftest import REPO, bench, run_folder, write_suite

ECHO = {"adapter": "tests.fault_adapters:Echo", "modes": ["cpu"], "options": {"text": "LOT 123"}}


def summary(folder):
    with open(os.path.join(folder, "summary.csv")) as f:
        return {(r["engine"], r["mode"]): r for r in csv.DictReader(f)}


def go(tmp_path, dataset, engines, *args, **settings):
    suite = write_suite(tmp_path / "suite.json", engines, **dict({"warmup": 1}, **settings))
    proc = bench("--config", suite, "--dataset", dataset, "--results", tmp_path / "results", *args)
    return proc, run_folder(tmp_path / "results")


def test_crash_fails_its_cell_and_the_matrix_goes_on(tmp_path, small_dataset):
    proc, folder = go(tmp_path, small_dataset, {
        "crash": {"adapter": "tests.fault_adapters:Crash", "modes": ["cpu", "gpu"]},
        "segv": {"adapter": "tests.fault_adapters:Segfault", "modes": ["cpu"]},
        "echo": dict(ECHO, options={"text": "LOT 123", "delay": 0.1})}, telemetry_interval_s=0.05)
    assert proc.returncode == 0, proc.stderr
    rows = summary(folder)
    crash = rows[("crash", "cpu")]
    assert crash["status"] == "failed"
    assert "exited with code 3" in crash["reason"] and "simulated engine crash" in crash["reason"]
    assert rows[("crash", "gpu")]["status"] == "skipped"
    assert rows[("crash", "gpu")]["reason"] == "echo has no GPU here"
    assert rows[("segv", "cpu")]["status"] == "failed"
    assert "SIGSEGV" in rows[("segv", "cpu")]["reason"]
    assert rows[("echo", "cpu")]["status"] == "ok" and rows[("echo", "cpu")]["n"] == "6"
    assert "failed" in proc.stdout  # the terminal table
    assert float(rows[("echo", "cpu")]["sys_peak_ram_mb"]) > 0  # telemetry during its timed passes
    with open(os.path.join(folder, "telemetry.csv")) as f:
        assert "echo/cpu" in {r["cell"] for r in csv.DictReader(f)}


def test_a_cell_that_cannot_run_is_skipped_but_a_broken_engine_fails(tmp_path, small_dataset):
    proc, folder = go(tmp_path, small_dataset, {
        "absent": {"adapter": "tests.fault_adapters:NotInstalled", "modes": ["cpu"]},
        "noint8": {"adapter": "tests.fault_adapters:UnavailableAtCalibration", "modes": ["cpu"]},
        "broken": {"adapter": "tests.fault_adapters:BrokenInstall", "modes": ["cpu"]}, "echo": ECHO})
    assert proc.returncode == 0, proc.stderr
    rows = summary(folder)
    absent, broken = rows[("absent", "cpu")], rows[("broken", "cpu")]
    assert absent["status"] == "skipped"
    assert "not installed" in absent["reason"] and "an_engine_not_installed_here" in absent["reason"]
    assert broken["status"] == "failed" and "a_module_the_engine_needs" in broken["reason"]
    assert rows[("noint8", "cpu")]["status"] == "skipped"
    assert rows[("noint8", "cpu")]["reason"] == "no INT8 here, found while calibrating"
    assert rows[("echo", "cpu")]["status"] == "ok"


def test_cpu_cells_see_no_gpu(tmp_path, small_dataset, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    proc, folder = go(tmp_path, small_dataset, {
        "gpus": {"adapter": "tests.fault_adapters:ShowsGPUs", "modes": ["cpu", "gpu", "onnx-cpu"]}}, warmup=0)
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(folder, "samples.csv")) as f:
        seen = {(r["mode"], r["pred"]) for r in csv.DictReader(f)}
    assert seen == {("cpu", "GPUs ''"), ("onnx-cpu", "GPUs ''"), ("gpu", "GPUs '0'")}


def test_hang_is_killed_at_the_timeout(tmp_path, small_dataset):
    started = time.monotonic()
    proc, folder = go(tmp_path, small_dataset, {
        "hang": {"adapter": "tests.fault_adapters:Hang", "modes": ["cpu"], "timeout_s": 6}, "echo": ECHO})
    assert time.monotonic() - started < 60
    rows = summary(folder)
    assert rows[("hang", "cpu")]["status"] == "failed"
    assert "timed out after 6 s" in rows[("hang", "cpu")]["reason"]
    assert rows[("echo", "cpu")]["status"] == "ok"


def test_engine_raising_on_every_sample_records_each_error(tmp_path, small_dataset):
    proc, folder = go(tmp_path, small_dataset, {
        "raiser": {"adapter": "tests.fault_adapters:RaiseEverySample", "modes": ["cpu"]}}, warmup=0)
    row = summary(folder)[("raiser", "cpu")]
    assert row["status"] == "failed"
    assert row["reason"].startswith("6 of 6 samples failed, first: manifest.csv row 2, img/000000.jpg: ValueError")
    samples = read_samples(os.path.join(folder, "samples.csv"))
    assert len(samples) == 6 and all("cannot read this" in s["error"] for s in samples)
    assert row["strict_acc"] == "0" and row["cer"] == "1" and row["t_total_ms"] == ""


def test_bad_samples_are_error_rows_and_the_rest_is_measured(tmp_path, small_dataset):
    data = str(tmp_path / "data")
    shutil.copytree(small_dataset, data)
    with open(os.path.join(data, "img", "000001.jpg"), "wb") as f:
        f.write(b"\xff\xd8garbage")
    with open(os.path.join(data, "manifest.csv")) as f:
        lines = f.read().splitlines()
    cells = lines[3].split(",")
    cells[-2] = "0"  # zero-height box on row 4
    lines[3] = ",".join(cells)
    os.remove(os.path.join(data, "img", "000003.jpg"))
    with open(os.path.join(data, "manifest.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    proc, folder = go(tmp_path, data, {"echo": ECHO})
    samples = {s["sample_id"]: s for s in read_samples(os.path.join(folder, "samples.csv"))}
    assert "row 3: cannot decode image" in samples["img/000001.jpg"]["error"]
    assert "row 4: box has zero or negative size" in samples["img/000002.jpg"]["error"]
    assert "row 5: cannot read image" in samples["img/000003.jpg"]["error"]
    assert samples["img/000000.jpg"]["error"] == "" and float(samples["img/000000.jpg"]["t_total_ms"]) > 0
    row = summary(folder)[("echo", "cpu")]
    assert row["status"] == "ok" and row["n"] == "6" and row["n_errors"] == "3"


def test_an_engine_is_shown_the_warmup_image_and_first_samples_before_timing(tmp_path, small_dataset):
    from bench.dataset import decode, open_dataset, read_bytes

    proc, folder = go(tmp_path, small_dataset, {
        "calib": {"adapter": "tests.fault_adapters:Calibrating", "modes": ["cpu"]}}, calibration=3)
    assert proc.returncode == 0, proc.stderr
    data = open_dataset(small_dataset)
    shapes = ["x".join(map(str, decode(read_bytes(e), e, grayscale=True, crop=True, variant="raw").shape))
              for e in (data.warmup, data.entries[0], data.entries[1])]
    expected = "3 images " + " ".join(shapes)
    preds = {s["pred"] for s in read_samples(os.path.join(folder, "samples.csv"))}
    assert preds == {expected}  # the warm-up frame's crop first, then the first two samples'


def test_malformed_manifest_is_a_clear_error_before_anything_runs(tmp_path):
    (tmp_path / "manifest.csv").write_text("file,label\na.png,X\n")
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO})
    proc = bench("--config", suite, "--dataset", tmp_path, "--results", tmp_path / "results")
    assert proc.returncode == 2
    assert "manifest.csv: header ['file', 'label'] lacks column(s) image, text" in proc.stderr


def test_unknown_engine_is_named(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"easyocrr": {"modes": ["cpu"]}})
    proc = bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results")
    assert proc.returncode == 2
    assert "engines.easyocrr: adapter adapters.easyocrr:Adapter cannot be loaded" in proc.stderr


def test_unknown_config_key_is_named(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"echo": dict(ECHO, mode=["cpu"])})
    proc = bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results")
    assert proc.returncode == 2 and "engines.echo: unknown key(s) mode" in proc.stderr


def test_sigkill_mid_cell_then_resume_records_every_sample_once(tmp_path, small_dataset):
    pidfile = tmp_path / "worker.pid"
    engines = {"echo": dict(ECHO, options={"text": "LOT 123", "delay": 0.25, "pidfile": str(pidfile)}),
               "after": ECHO}
    suite = write_suite(tmp_path / "suite.json", engines, warmup=1, passes=2)
    results = tmp_path / "results"
    runner = subprocess.Popen([sys.executable, "-m", "bench", "run", "--quiet", "--config", suite,
                               "--dataset", small_dataset, "--results", str(results)],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    samples_csv = None
    while time.monotonic() < deadline:
        found = [os.path.join(dp, "samples.csv") for dp, _, fs in os.walk(str(results)) if "samples.csv" in fs]
        if found and len(read_samples(found[0])) >= 4:
            samples_csv = found[0]
            break
        time.sleep(0.05)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert samples_csv, "the run never wrote 4 samples"
    worker = "/proc/%s" % pidfile.read_text()
    for _ in range(100):  # the worker dies with its runner (PR_SET_PDEATHSIG)
        if not os.path.exists(worker) or " Z " in open(worker + "/stat").read():
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the worker outlived the killed runner")
    before = len(read_samples(samples_csv))
    assert 4 <= before < 12  # killed mid-cell: echo has 6 samples x 2 passes

    proc = bench("--resume", os.path.dirname(samples_csv))
    assert proc.returncode == 0, proc.stderr
    rows = read_samples(samples_csv)
    keys = [(r["engine"], r["pass"], r["sample_id"]) for r in rows]
    assert len(keys) == len(set(keys)) == 24  # 2 cells x 2 passes x 6 samples, each once
    table = summary(os.path.dirname(samples_csv))
    assert table[("echo", "cpu")]["status"] == "ok" and table[("echo", "cpu")]["n"] == "6"  # images, not passes
    assert table[("after", "cpu")]["n"] == "6"


def test_sample_log_drops_a_line_cut_short_by_a_kill(tmp_path):
    path = tmp_path / "samples.csv"
    log = SampleLog(str(path))
    log.write({"run_id": "r", "sample_id": "a", "pass": 0, "t_total_ms": "1.0"})
    log.close()
    with open(str(path), "a") as f:
        f.write("r,dev,echo,cpu,b,0,GT,PR")  # the kill came mid-write
    SampleLog(str(path)).close()
    assert [r["sample_id"] for r in read_samples(str(path))] == ["a"]
