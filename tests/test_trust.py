"""Trust under faults and bad input (issue #13): one writer per run, safe resume, no cell
lost to one bad image, every setting checked, Ctrl-C and a full disk lose nothing, and the
reporter names damaged files. Real runner processes on real files throughout."""
import csv
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from bench import runfolder
from bench.results import read_samples
from tests.conftest import REPO, bench, run_folder, write_suite

ECHO = {"adapter": "tests.fault_adapters:Echo", "modes": ["cpu"], "options": {"text": "LOT 123"}}


def slow(delay: float, **options) -> dict:
    return dict(ECHO, options=dict({"text": "LOT 123", "delay": delay}, **options))


def summary(folder):
    with open(os.path.join(folder, "summary.csv")) as f:
        return {(r["engine"], r["mode"]): r for r in csv.DictReader(f)}


def keys(folder):
    return [(r["engine"], r["mode"], r["pass"], r["sample_id"]) for r in read_samples(os.path.join(folder, "samples.csv"))]


def copy_dataset(small_dataset, tmp_path, name="data"):
    data = str(tmp_path / name)
    shutil.copytree(small_dataset, data)
    return data


def popen(*args, preexec_fn=None, **kwargs):
    """The runner as started from a terminal: Ctrl-C reaches it even where the test process was
    started with SIGINT ignored or blocked (a background job; children inherit both)."""
    return subprocess.Popen([sys.executable, "-m", "bench", "run", "--quiet"] + [str(a) for a in args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                            preexec_fn=lambda: _ctrl_c_reaches_it(preexec_fn), **kwargs)


def _ctrl_c_reaches_it(then=None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if then is not None:
        then()


def wait_for_rows(results, count, timeout=120):
    """The samples.csv under ``results`` once it has ``count`` rows."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [os.path.join(dp, "samples.csv") for dp, _, fs in os.walk(str(results)) if "samples.csv" in fs]
        if found and len(read_samples(found[0])) >= count:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("no samples.csv with %d rows under %s" % (count, results))


# 1. one writer per run ----------------------------------------------------------------------
def test_a_second_writer_of_a_run_is_refused_naming_the_run_and_its_holder(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"echo": slow(0.3)}, warmup=0, telemetry_interval_s=0)
    first = popen("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results")
    folder = os.path.dirname(wait_for_rows(tmp_path / "results", 1))
    second = bench("--resume", folder)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 2
    assert folder in second.stderr and "is being written by another runner (pid %d" % first.pid in second.stderr
    assert sorted(keys(folder)) == sorted(set(keys(folder))) and len(keys(folder)) == 6


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
    procs = [popen("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results",
                   "--device", "dev") for _ in range(2)]
    assert all(p.wait(timeout=120) == 0 for p in procs), [p.stderr.read() for p in procs]
    assert len(os.listdir(str(tmp_path / "results" / "dev"))) == 2
    made = [runfolder.create(str(tmp_path / "same")) for _ in range(3)]
    assert len(set(made)) == 3 and all(os.path.isdir(m) for m in made)


# 2. one bad image is an error row, never a lost cell ----------------------------------------
def test_a_zero_byte_calibration_image_is_one_error_row_for_every_engine(tmp_path, small_dataset):
    data = copy_dataset(small_dataset, tmp_path)
    open(os.path.join(data, "img", "000000.jpg"), "wb").close()  # the first sample: calibrated on
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO, "tesseract": {"modes": ["cpu"]}},
                        warmup=1, calibration=16, telemetry_interval_s=0)
    proc = bench("--config", suite, "--dataset", data, "--results", tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    folder = run_folder(tmp_path / "results")
    for engine in ("echo", "tesseract"):
        row = summary(folder)[(engine, "cpu")]
        assert row["status"] == "ok" and row["n"] == "6" and row["n_errors"] == "1", row
    rows = [r for r in read_samples(os.path.join(folder, "samples.csv")) if r["sample_id"] == "img/000000.jpg"]
    assert len(rows) == 2 and all("row 2: image " in r["error"] and "000000.jpg is empty (0 bytes)" in r["error"]
                                  for r in rows)


def test_without_warmup_csv_a_missing_first_image_leaves_the_warm_up_to_the_next(tmp_path, small_dataset):
    data = copy_dataset(small_dataset, tmp_path)
    os.remove(os.path.join(data, "warmup.csv"))
    os.remove(os.path.join(data, "img", "000000.jpg"))
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=2, telemetry_interval_s=0)
    proc = bench("--config", suite, "--dataset", data, "--results", tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    folder = run_folder(tmp_path / "results")
    row = summary(folder)[("echo", "cpu")]
    assert row["status"] == "ok" and row["n_errors"] == "1"
    with open(os.path.join(folder, "cells.json")) as f:
        assert json.load(f)["echo/cpu"]["warmup_image"] == "img/000001.jpg"


def test_a_dataset_with_no_usable_image_says_so(tmp_path, small_dataset):
    data = copy_dataset(small_dataset, tmp_path)
    for name in os.listdir(os.path.join(data, "img")) + ["../warmup.jpg"]:
        open(os.path.join(data, "img", name), "wb").close()
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=1, telemetry_interval_s=0)
    proc = bench("--config", suite, "--dataset", data, "--results", tmp_path / "results")
    assert proc.returncode == 1  # every cell failed
    reason = summary(run_folder(tmp_path / "results"))[("echo", "cpu")]["reason"]
    assert "no usable warm-up image: none of the 7 images" in reason and "warmup.jpg is empty" in reason


def test_a_failed_cell_gives_the_engine_s_exception_not_its_last_stderr_line(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"bad": {"adapter": "tests.fault_adapters:FailsToLoad"},
                                                   "echo": ECHO}, warmup=0, telemetry_interval_s=0)
    proc = bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    reason = summary(run_folder(tmp_path / "results"))[("bad", "cpu")]["reason"]
    assert reason == "worker exited with code 1: RuntimeError: the model file is corrupt"


def test_a_box_reaching_past_the_image_is_an_error_row_naming_the_file(tmp_path, small_dataset):
    data = copy_dataset(small_dataset, tmp_path)
    with open(os.path.join(data, "manifest.csv")) as f:
        lines = f.read().splitlines()
    cells = lines[1].split(",")
    cells[2] = "600"  # x + w now past the 640-pixel-wide frame
    lines[1] = ",".join(cells)
    with open(os.path.join(data, "manifest.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
    bench("--config", suite, "--dataset", data, "--results", tmp_path / "results")
    rows = {r["sample_id"]: r for r in read_samples(os.path.join(run_folder(tmp_path / "results"), "samples.csv"))}
    error = rows["img/000000.jpg"]["error"]
    assert "manifest.csv row 2: box (600," in error and "reaches past the 640x480 image" in error
    assert error.endswith("000000.jpg") and rows["img/000000.jpg"]["pred"] == ""


# 3. --resume checks what it continues -------------------------------------------------------
def test_resume_refuses_a_changed_manifest_and_options_it_cannot_honour(tmp_path, small_dataset):
    data = copy_dataset(small_dataset, tmp_path)
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
    assert bench("--config", suite, "--dataset", data, "--results", tmp_path / "results").returncode == 0
    folder = run_folder(tmp_path / "results")
    refused = bench("--resume", folder, "--limit", "3", "--engines", "echo")
    assert refused.returncode == 2 and "--engines, --limit cannot be changed" in refused.stderr
    with open(os.path.join(data, "manifest.csv"), "a") as f:
        f.write("img/000001.jpg,EDITED,,,,,test\n")
    refused = bench("--resume", folder)
    assert refused.returncode == 2
    assert "cannot resume %s: the manifest %s has changed" % (folder, os.path.join(data, "manifest.csv")) in refused.stderr
    os.remove(os.path.join(data, "img", "000002.jpg"))
    with open(os.path.join(data, "manifest.csv")) as f:
        edited = f.read()
    with open(os.path.join(data, "manifest.csv"), "w") as f:
        f.write(edited[:edited.rindex("img/000001.jpg,EDITED")])
    refused = bench("--resume", folder)
    assert refused.returncode == 2 and "images named by" in refused.stderr and "have changed" in refused.stderr


# 4. every setting checked -------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (["--limit", "-5"], "limit: must be an integer >= 1, got -5"),
    (["--limit", "0"], "limit: must be an integer >= 1, got 0"),
    (["--timeout", "0"], "timeout_s: must be a finite number > 0, got 0.0"),
    (["--modes", "tpu"], "--modes: tpu not among cpu, gpu"),
    (["--modes", "trt-fp16"], "--modes trt-fp16: no engine here has such a mode (echo: cpu)"),
])
def test_settings_out_of_range_are_named(tmp_path, small_dataset, args, message):
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO})
    proc = bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results", *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not os.path.exists(str(tmp_path / "results"))


def test_suite_values_and_files_that_do_not_parse_are_named(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, timeout_s="ten")
    proc = bench("--config", suite, "--dataset", small_dataset)
    assert proc.returncode == 2 and "timeout_s: must be a finite number > 0, got 'ten'" in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("engines:\n  echo: {modes: [cpu]\nwarmup: 1\n")
    proc = bench("--config", bad, "--dataset", small_dataset)
    assert proc.returncode == 2 and "%s: not valid YAML" % bad in proc.stderr and "Traceback" not in proc.stderr


def test_a_suite_grammar_or_results_folder_that_cannot_be_opened_is_named(tmp_path, small_dataset):
    (tmp_path / "a-file").write_text("")
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO})
    for args, said in [(("--config", tmp_path / "gone.yaml"), "%s: cannot read the suite" % (tmp_path / "gone.yaml")),
                       (("--config", suite, "--grammar", tmp_path / "gone.txt"),
                        "%s: cannot read the grammar" % (tmp_path / "gone.txt")),
                       (("--config", suite, "--results", tmp_path / "a-file"),
                        "results folder %s" % (tmp_path / "a-file"))]:
        proc = bench(*(args + ("--dataset", small_dataset)))
        assert proc.returncode == 2 and said in proc.stderr and "Errno" not in proc.stderr, proc.stderr


def test_a_run_in_which_every_cell_failed_exits_non_zero(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"crash": {"adapter": "tests.fault_adapters:Crash"}},
                        telemetry_interval_s=0)
    proc = bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results")
    assert proc.returncode == 1 and "every cell that ran failed" in proc.stderr


def test_manifests_with_a_byte_order_mark_read_and_other_encodings_are_named_by_row(tmp_path, small_dataset):
    from bench.dataset import ManifestError, read_manifest

    data = copy_dataset(small_dataset, tmp_path)
    manifest = os.path.join(data, "manifest.csv")
    with open(manifest, "rb") as f:
        original = f.read()
    with open(manifest, "wb") as f:
        f.write(b"\xef\xbb\xbf" + original)  # Excel's "CSV UTF-8"
    assert [e.text for e in read_manifest(manifest)] == [e.text for e in read_manifest(os.path.join(small_dataset, "manifest.csv"))]
    lines = original.split(b"\n")
    lines[3] = lines[3].replace(b"test", b"t\xe9st")  # Latin-1, on the manifest's 4th line
    with open(manifest, "wb") as f:
        f.write(b"\n".join(lines))
    with pytest.raises(ManifestError, match=r"manifest.csv row 4: not UTF-8 text \(byte 0xe9\)"):
        read_manifest(manifest)


# 5. Ctrl-C and a full disk ------------------------------------------------------------------
def test_ctrl_c_stops_the_worker_at_once_keeps_every_sample_and_says_how_to_resume(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"echo": slow(1.0), "after": ECHO}, warmup=0, passes=3,
                        telemetry_interval_s=0)
    runner = popen("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results")
    samples_csv = wait_for_rows(tmp_path / "results", 2)
    runner.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = runner.communicate(timeout=60)
    assert time.monotonic() - started < 5  # not the 16 s left of the cell
    assert runner.returncode == 130 and "Traceback" not in err
    folder = os.path.dirname(samples_csv)
    assert "interrupted in cell echo/cpu" in err and "python -m bench run --resume %s" % folder in err
    kept = keys(folder)
    assert 2 <= len(kept) < 18
    assert summary(folder)[("echo", "cpu")]["status"] == "interrupted"
    assert int(summary(folder)[("echo", "cpu")]["n"]) == len(kept)
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO, "after": ECHO}, warmup=0, passes=3)
    proc = bench("--resume", folder)
    assert proc.returncode == 0, proc.stderr
    assert kept == keys(folder)[:len(kept)] and len(set(keys(folder))) == len(keys(folder)) == 36


def _small_files(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_stops_the_run_clearly_and_resume_finishes_it(tmp_path, small_dataset):
    long_text = {"text": "LOT " + "1234567890" * 40}  # rows of about 500 bytes
    suite = write_suite(tmp_path / "suite.json", {"echo": dict(ECHO, options=long_text)}, warmup=0, passes=2,
                        telemetry_interval_s=0)
    proc = popen("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results",
                 preexec_fn=_small_files(4000))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    folder = run_folder(tmp_path / "results")
    assert "cannot write to %s (File too large) in cell echo/cpu" % os.path.join(folder, "samples.csv") in err
    assert "--resume %s" % folder in err and "Traceback" not in err
    before = keys(folder)
    assert 0 < len(before) < 12
    resumed = bench("--resume", folder)
    assert resumed.returncode == 0, resumed.stderr
    after = keys(folder)
    assert after[:len(before)] == before and len(set(after)) == len(after) == 12


# 6. silent trouble --------------------------------------------------------------------------
def test_the_reporter_names_a_cut_samples_file_and_a_value_that_is_no_number(tmp_path, small_dataset):
    from bench.report import load

    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
    assert bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results").returncode == 0
    folder = run_folder(tmp_path / "results")
    with open(os.path.join(folder, "samples.csv"), "a") as f:
        f.write("r,dev,echo,cpu,img/000009.jpg,0,LOT")  # as a kill leaves it
    rows = list(csv.reader(open(os.path.join(folder, "summary.csv"))))
    rows[1][rows[0].index("fps")] = "fast"
    with open(os.path.join(folder, "summary.csv"), "w", newline="") as f:
        csv.writer(f).writerows(rows)
    results = load.load([str(tmp_path / "results")])
    notes = "\n".join(results.notes)
    assert "samples.csv: its last line (line 8) is cut short" in notes
    assert "summary.csv: column fps has 1 value(s) that are not numbers (the first, 'fast', on line 2)" in notes
    assert len(results.samples) == 6


def test_a_relative_results_folder_means_the_same_for_a_run_and_its_resume(tmp_path, small_dataset):
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cmd = [sys.executable, "-m", "bench", "run", "--quiet", "--config", str(suite), "--dataset", small_dataset,
           "--results", "myresults"]
    env = dict(os.environ, PYTHONPATH=REPO)
    first = subprocess.run(cmd + ["--limit", "2"], cwd=str(elsewhere), env=env, stderr=subprocess.PIPE,
                           universal_newlines=True)
    assert first.returncode == 0, first.stderr
    folder = run_folder(elsewhere / "myresults")
    resumed = subprocess.run([sys.executable, "-m", "bench", "run", "--quiet", "--resume", "--results", "myresults"],
                             cwd=str(elsewhere), env=env, stderr=subprocess.PIPE, universal_newlines=True)
    assert resumed.returncode == 0, resumed.stderr
    with open(os.path.join(folder, "run.json")) as f:
        meta = json.load(f)
    assert meta["config"]["results"] == str(elsewhere / "myresults") and len(meta["resumed"]) == 1


# the property: kill anywhere, resume, and every sample is there once ---------------------------
@pytest.mark.parametrize("seed", range(8))
def test_killed_at_a_random_moment_then_resumed_every_sample_is_recorded_once(tmp_path, small_dataset, seed):
    rng = random.Random(seed)
    engines = {"a": slow(rng.uniform(0.0, 0.1)), "b": slow(rng.uniform(0.0, 0.1))}
    suite = write_suite(tmp_path / "suite.json", engines, warmup=rng.randint(0, 2), passes=2,
                        telemetry_interval_s=rng.choice([0, 0.05]))
    results = tmp_path / "results"
    runner = popen("--config", suite, "--dataset", small_dataset, "--results", results)
    time.sleep(rng.uniform(0.2, 3.0))
    runner.send_signal(rng.choice([signal.SIGKILL, signal.SIGINT, signal.SIGTERM]))
    runner.communicate(timeout=120)
    found = [dp for dp, _, fs in os.walk(str(results)) if "run.json" in fs]
    if not found:  # killed before its folder existed: nothing to resume, nothing lost
        return
    for _ in range(3):  # a resume is itself complete, or refused while the killed runner's lock lingers
        proc = bench("--resume", found[0])
        if proc.returncode == 0:
            break
        time.sleep(0.5)
    assert proc.returncode == 0, proc.stderr
    recorded = keys(found[0])
    expected = {(e, "cpu", str(p), "img/%06d.jpg" % i) for e in engines for p in range(2) for i in range(6)}
    assert len(recorded) == len(set(recorded)) and set(recorded) == expected
