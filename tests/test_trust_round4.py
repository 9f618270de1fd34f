"""Trust, round four (issue #44): a lost sample, silently wrong numbers, and inputs that broke
a run, a suite or a report. Real runner, worker and reporter processes on real files, as in
tests/test_trust.py."""
import csv
import json
import os

import cv2
import numpy as np
import pytest

from bench.results import read_samples
from tests.conftest import bench, run_folder, write_suite
from tests.test_trust import ECHO, summary
from tests.test_trust_inputs import report


def _images(root, names, text="LOT 123"):
    os.makedirs(os.path.join(str(root), "img"), exist_ok=True)
    for k, name in enumerate(names):
        cv2.imwrite(os.path.join(str(root), "img", name), np.random.default_rng(k).integers(0, 255, (30, 90), np.uint8))
    return str(root)


def _run(tmp_path, data, engines=None, *args):
    suite = write_suite(tmp_path / "suite.json", engines or {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
    return bench("--config", suite, "--dataset", data, "--results", tmp_path / "results", *args)


# 1. duplicate image rows ----------------------------------------------------------------------
def test_rows_naming_one_image_are_each_a_sample_and_the_report_names_them(tmp_path):
    data = _images(tmp_path / "d", ["a.jpg", "a.jpg#1"])
    (tmp_path / "d" / "manifest.csv").write_text("image,text\nimg/a.jpg,LOT 123\nimg/a.jpg,LOT 123\n"
                                                 "img/a.jpg#1,LOT 123\nimg/./a.jpg,LOT 123\n")
    proc = _run(tmp_path, data)
    assert proc.returncode == 0, proc.stderr
    assert "manifest.csv rows 2, 3 and 5 name the same image img/a.jpg" in proc.stderr, proc.stderr
    folder = run_folder(tmp_path / "results")
    ids = [r["sample_id"] for r in read_samples(os.path.join(folder, "samples.csv"))]
    assert len(ids) == 4 and len(set(ids)) == 4, ids
    assert summary(folder)[("echo", "cpu")]["n"] == "4"
    out = report(tmp_path / "results", "--out", tmp_path / "report")
    assert out.returncode == 0, out.stderr
    assert "name the same image img/a.jpg" in (tmp_path / "report" / "report.md").read_text()


# 2. error rows are never correct --------------------------------------------------------------
def test_a_missing_and_a_corrupt_image_with_empty_labels_are_not_counted_correct(tmp_path):
    data = _images(tmp_path / "d", ["good.png"])
    (tmp_path / "d" / "img" / "bad.png").write_bytes(b"not an image")
    (tmp_path / "d" / "manifest.csv").write_text("image,text\nimg/good.png,LOT 123\nimg/gone.png,\nimg/bad.png,\n")
    proc = _run(tmp_path, data)
    assert proc.returncode == 0, proc.stderr
    row = summary(run_folder(tmp_path / "results"))[("echo", "cpu")]
    assert row["n_errors"] == "2" and abs(float(row["strict_acc"]) - 1 / 3) < 1e-5, row
    assert "manifest.csv rows 3 and 4 have an empty label" in proc.stderr, proc.stderr
    out = report(tmp_path / "results", "--out", tmp_path / "report")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "33.3" in text
    assert "- 2 of 3 samples failed, first: manifest.csv row 3: cannot read image" in text, text
    assert "they count as wrong: echo" in text, text


# 3. one run id on two devices ------------------------------------------------------------------
def test_two_devices_runs_with_one_run_id_are_each_scored_with_their_own_settings(tmp_path):
    data = _images(tmp_path / "d", ["a.png", "b.png"])
    (tmp_path / "d" / "manifest.csv").write_text("image,text\nimg/a.png,lot 123\nimg/b.png,lot 123\n")
    for device, casefold in (("hostA", True), ("hostB", False)):
        suite = write_suite(tmp_path / ("%s.json" % device), {"echo": ECHO}, warmup=0, telemetry_interval_s=0,
                            normalize={"nfkc": True, "strip_whitespace": True, "casefold": casefold})
        proc = bench("--config", suite, "--dataset", data, "--results", tmp_path / "results", "--device", device)
        assert proc.returncode == 0, proc.stderr
    folders = {d: run_folder(tmp_path / "results" / d) for d in ("hostA", "hostB")}
    os.rename(folders["hostB"], os.path.join(os.path.dirname(folders["hostB"]), os.path.basename(folders["hostA"])))
    out = report(tmp_path / "results", "--out", tmp_path / "report")
    assert out.returncode == 0, out.stderr
    with open(str(tmp_path / "report" / "tables" / "cells.csv")) as f:
        rows = {r["Device"]: r["Strict acc. % [95% CI]"] for r in csv.DictReader(f)}
    assert rows == {"hostA": "100.0", "hostB": "0.0"}, rows


# 5. unknown engine options ---------------------------------------------------------------------
def test_an_unknown_engine_option_is_refused_by_name(tmp_path, small_dataset):
    engines = {"fots-mine": {"adapter": "adapters.fots:Adapter", "modes": ["onnx-cpu"],
                             "options": {"weight": "models/fots/weights/fots-b0-lines"}}}
    proc = _run(tmp_path, small_dataset, engines)
    assert proc.returncode == 2 and "engines.fots-mine.options: unknown option 'weight' (did you mean 'weights'?)" \
        in proc.stderr, proc.stderr
    assert not (tmp_path / "results").exists()


# 6-8. command line and suites -----------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--engines", "--modes"])
def test_an_empty_engine_or_mode_list_is_refused(tmp_path, small_dataset, flag):
    proc = _run(tmp_path, small_dataset, None, flag, "")
    assert proc.returncode == 2 and "%s: '' names nothing" % flag in proc.stderr, proc.stderr


def test_a_suite_key_written_twice_is_refused(tmp_path, small_dataset):
    suite = tmp_path / "suite.yaml"
    suite.write_text("warmup: 0\nengines:\n  echo: {adapter: 'tests.fault_adapters:Echo'}\n"
                     "engines:\n  tesseract: {}\n")
    proc = bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results")
    assert proc.returncode == 2 and "key 'engines' is written twice" in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", ["fots/v2", "../../escape", ".hidden"])
def test_an_engine_name_that_would_name_files_elsewhere_is_refused(tmp_path, small_dataset, name):
    proc = _run(tmp_path, small_dataset, {name: ECHO})
    assert proc.returncode == 2 and "cannot name an engine" in proc.stderr, proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path.parent / "escape.log").exists()


# 9-10. files that are not images, data that changes -------------------------------------------
def test_a_fifo_or_a_folder_named_by_the_manifest_is_an_error_row_not_a_hang(tmp_path):
    data = _images(tmp_path / "d", ["a.png"])
    os.mkfifo(str(tmp_path / "d" / "img" / "pipe.png"))
    os.mkdir(str(tmp_path / "d" / "img" / "folder.png"))
    (tmp_path / "d" / "manifest.csv").write_text("image,text\nimg/a.png,LOT 123\nimg/pipe.png,LOT 123\n"
                                                 "img/folder.png,LOT 123\n")
    proc = _run(tmp_path, data)
    assert proc.returncode == 0, proc.stderr
    rows = read_samples(os.path.join(run_folder(tmp_path / "results"), "samples.csv"))
    errors = {r["sample_id"]: r["error"] for r in rows}
    assert "row 3" in errors["img/pipe.png"] and "not a regular file" in errors["img/pipe.png"], rows
    assert "row 4" in errors["img/folder.png"] and "a folder, not an image file" in errors["img/folder.png"], rows


def test_a_dataset_changed_during_a_run_fails_the_next_cells_naming_the_change(tmp_path):
    data = _images(tmp_path / "d", ["a.png", "b.png"])
    (tmp_path / "d" / "manifest.csv").write_text("image,text\nimg/a.png,LOT 123\nimg/b.png,LOT 123\n")
    # the first cell removes an image as it loads: the second cell must not read another dataset
    engines = {"echo": dict(ECHO, adapter="tests.fault_adapters:RemovesAnImage",
                            options={"text": "LOT 123", "remove": os.path.join(data, "img", "b.png")}),
               "echo2": ECHO}
    proc = _run(tmp_path, data, engines)
    assert proc.returncode == 0, proc.stderr
    row = summary(run_folder(tmp_path / "results"))[("echo2", "cpu")]
    assert row["status"] == "failed" and "the dataset changed since the run started" in row["reason"] and \
        "img/b.png (gone)" in row["reason"], row


# 4. transparency and EXIF orientation together --------------------------------------------------
@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_a_transparent_image_with_an_exif_orientation_is_read_as_a_viewer_shows_it(tmp_path, suffix):
    from PIL import Image

    from bench.dataset import decode, read_bytes, read_manifest

    upright = np.full((40, 120, 4), 255, np.uint8)
    upright[:, :, 3] = 0  # transparent paper
    cv2.putText(upright, "L12", (5, 32), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0, 255), 3)
    stored = np.ascontiguousarray(np.rot90(upright, 1))  # stored turned, EXIF orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGRA2RGBA)).save(str(tmp_path / ("a" + suffix)), exif=exif,
                                                                   lossless=True)
    (tmp_path / "manifest.csv").write_text("image,text,x,y,w,h\na%s,L12,0,0,120,40\n" % suffix)
    entry = read_manifest(str(tmp_path / "manifest.csv"))[0]
    shown = decode(read_bytes(entry), entry)
    expected = cv2.cvtColor(upright[:, :, :3], cv2.COLOR_BGR2GRAY)
    expected[upright[:, :, 3] == 0] = 255
    assert shown.shape == (40, 120) and np.abs(shown.astype(int) - expected).mean() < 8


# 13-18. reports from damaged or unusual result files -----------------------------------------
@pytest.fixture
def echo_run(tmp_path):
    data = _images(tmp_path / "d", ["a.png", "b.png", "c.png"])
    (tmp_path / "d" / "manifest.csv").write_text("image,text\nimg/a.png,LOT 123\nimg/b.png,LOT 123\nimg/c.png,EXP\n")
    proc = _run(tmp_path, data)
    assert proc.returncode == 0, proc.stderr
    return run_folder(tmp_path / "results")


def _rewrite(path, change):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    rows = change(rows)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_summary_without_strict_acc_is_named_not_a_traceback(tmp_path, echo_run):
    _rewrite(os.path.join(echo_run, "summary.csv"), lambda rows: [{k: v for k, v in r.items() if k != "strict_acc"}
                                                                 for r in rows])
    out = report(tmp_path / "results", "--out", tmp_path / "report")
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode == 2 and "summary.csv" in out.stderr and "strict_acc" in out.stderr, out.stderr


@pytest.mark.parametrize("column,value", [("n", "ten"), ("strict_acc", "high")])
def test_values_that_are_not_numbers_are_read_as_missing_with_a_warning(tmp_path, echo_run, column, value):
    _rewrite(os.path.join(echo_run, "summary.csv"), lambda rows: [dict(r, **{column: value}) for r in rows])
    out = report(tmp_path / "results", "--out", tmp_path / "report")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "column %s has 1 value(s) that are not numbers" % column in (tmp_path / "report" / "report.md").read_text()


def test_a_run_whose_cells_all_skipped_is_reported(tmp_path, small_dataset):
    proc = _run(tmp_path, small_dataset, {"echo": dict(ECHO, modes=["gpu"])})
    assert proc.returncode == 0, proc.stderr
    out = report(tmp_path / "results", "--out", tmp_path / "report")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "echo has no GPU here" in (tmp_path / "report" / "report.md").read_text()


def test_an_unfinished_run_beside_good_ones_is_warned_about_and_the_rest_reported(tmp_path, echo_run):
    broken = os.path.join(os.path.dirname(echo_run), "20990101-000000")
    os.makedirs(broken)
    with open(os.path.join(echo_run, "run.json")) as f:
        meta = json.load(f)
    meta.update(run_id="20990101-000000", ended=None)
    with open(os.path.join(broken, "run.json"), "w") as f:
        json.dump(meta, f)
    out = report(tmp_path / "results", "--out", tmp_path / "report")
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "20990101-000000: no samples.csv or summary.csv yet" in text and "left out of this report" in text
    assert "| echo " in text  # the good run is reported


@pytest.mark.parametrize("content,message", [(None, "--references: no such file"),
                                             ('engine,device\n"unclosed,x\n', "--references"),
                                             ("a,b\n1,2\n", "--references")])
def test_bad_references_are_named(tmp_path, echo_run, content, message):
    path = tmp_path / "refs.csv"
    if content is not None:
        path.write_text(content)
    out = report(tmp_path / "results", "--out", tmp_path / "report", "--references", path)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_mathtext_and_pipes_in_names_are_plain_text_in_plots_and_tables(tmp_path, small_dataset):
    for device in ("rig$^$", "a|b"):
        suite = write_suite(tmp_path / "s.json", {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
        proc = bench("--config", suite, "--dataset", small_dataset, "--results", tmp_path / "results", "--device", device)
        assert proc.returncode == 0, proc.stderr
    out = report(tmp_path / "results", "--out", tmp_path / "report")
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    text = (tmp_path / "report" / "report.md").read_text()
    assert "a\\|b" in text and "| a|b |" not in text
    tex = "".join(open(os.path.join(str(tmp_path / "report" / "tables"), n)).read()
                  for n in os.listdir(str(tmp_path / "report" / "tables")) if n.endswith(".tex"))
    assert "a\\textbar{}b" in tex or "a\\textbar b" in tex, tex[:500]


def test_the_confusion_plot_draws_zero_and_letter_o_apart():
    import matplotlib.pyplot as plt

    from bench.report import plots

    glyphs = []
    for char in "0O":
        fig = plt.figure(figsize=(0.5, 0.6), dpi=100)
        fig.text(0.1, 0.2, char, family=plots.CONFUSION_FONT, fontsize=24)
        fig.canvas.draw()
        glyphs.append(np.asarray(fig.canvas.buffer_rgba())[:, :, 0] < 128)
        plt.close(fig)
    assert (glyphs[0] != glyphs[1]).sum() > 0.1 * glyphs[1].sum()


# 27. piped into head ----------------------------------------------------------------------------
def test_a_run_piped_into_a_reader_that_quits_ends_without_a_traceback(tmp_path, small_dataset):
    import subprocess
    import sys

    from tests.conftest import REPO

    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0, telemetry_interval_s=0)
    proc = subprocess.run("%s -m bench run --quiet --config %s --dataset %s --results %s | true"
                          % (sys.executable, suite, small_dataset, tmp_path / "results"), shell=True, cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr
    assert summary(run_folder(tmp_path / "results"))[("echo", "cpu")]["n"] == "6"


# 25. provenance ---------------------------------------------------------------------------------
def test_an_untracked_adapter_file_makes_a_run_dirty(tmp_path):
    import subprocess

    from bench import fingerprint

    repo = str(tmp_path / "repo")
    os.makedirs(os.path.join(repo, "adapters"))
    git = lambda *args: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t"] + list(args), cwd=repo,  # noqa: E731
                                       check=True, stdout=subprocess.PIPE)
    git("init", "-q")
    open(os.path.join(repo, "README.md"), "w").write("x\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    open(os.path.join(repo, "notes.txt"), "w").write("a note, not source\n")
    assert fingerprint.git_commit(repo)["dirty"] is False
    open(os.path.join(repo, "adapters", "mine.py"), "w").write("class Adapter: pass\n")
    assert fingerprint.git_commit(repo)["dirty"] is True


# 26. a fleet with no inventory ------------------------------------------------------------------
def test_make_fleet_with_an_inventory_that_does_not_exist_fails_naming_it(tmp_path):
    import subprocess

    from tests.conftest import REPO

    proc = subprocess.run(["make", "--no-print-directory", "fleet", "INVENTORY=%s" % (tmp_path / "nope.yml"), "DEPS=",
                           "REPORT_FROM=%s" % (tmp_path / "results"), "REPORT_OUT=%s" % (tmp_path / "report")],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=300)
    assert proc.returncode != 0 and "nope.yml: no such inventory file" in proc.stdout, proc.stdout
    assert not (tmp_path / "report").exists()


# 11-12. code grammars ---------------------------------------------------------------------------
def test_a_grammar_of_many_long_optional_slots_matches_in_bounded_time():
    import time

    from bench.grammar import Grammar

    grammar = Grammar("code: " + " ".join(["{X:0-64}"] * 12) + "\n")
    began = time.monotonic()
    assert grammar.accepts("A" * 40) and not grammar.accepts("a" * 40 + ":")
    assert time.monotonic() - began < 5


def test_a_grammar_that_expands_exponentially_is_refused_naming_the_file(tmp_path):
    from bench import grammar

    lines = ["t0: {9}"] + ["t%d: {@t%d}{@t%d}" % (k, k - 1, k - 1) for k in range(1, 26)] + ["code: {@t25}"]
    (tmp_path / "grammar.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(grammar.GrammarError, match=r"grammar\.txt: its templates expand to more than"):
        grammar.load(str(tmp_path / "grammar.txt"))


def test_a_hash_inside_a_template_is_a_character_and_one_after_a_space_a_comment():
    from bench.grammar import Grammar

    grammar = Grammar("code: LOT#{9:5}   # the lot number\n")
    assert grammar.accepts("LOT#12345") and not grammar.accepts("LOT")
    assert grammar.correct("LOT 12345").text == "LOT#12345"
    assert Grammar("code: LOT \\#{9:2}\n").accepts("LOT #12")


# 21-24. fine-tuning -----------------------------------------------------------------------------
def _finetune(*args):
    import subprocess
    import sys

    from tests.conftest import REPO

    return subprocess.run([sys.executable, "-m"] + [str(a) for a in args], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=600)


@pytest.fixture
def photos(tmp_path):
    from models.fots import annotated

    folder = str(tmp_path / "photos")
    annotated.write_example(folder, count=8, test=2)
    return folder


def test_an_out_that_is_a_file_is_refused_before_anything_loads(tmp_path, photos):
    (tmp_path / "weights").write_text("not a folder")
    proc = _finetune("models.fots.finetune", photos, "--out", tmp_path / "weights", "--steps", 1)
    assert proc.returncode == 2 and "weights: a file, not a folder" in proc.stderr and "Traceback" not in proc.stderr


def test_a_second_fine_tune_into_a_folder_being_trained_into_is_refused(tmp_path, photos):
    from models import training

    held = training.claim(str(tmp_path / "weights"))  # a run training into it now
    try:
        proc = _finetune("models.fots.finetune", photos, "--out", tmp_path / "weights", "--steps", 1, "--valid", 5)
    finally:
        os.close(held)
    assert proc.returncode == 2 and "is being trained into by another run (pid %d" % os.getpid() in proc.stderr, \
        proc.stderr
    assert not (tmp_path / "weights" / "train.log").exists()


def test_a_damaged_config_is_named_and_a_config_is_never_left_half_written(tmp_path, photos, monkeypatch):
    from models import training

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "config.json").write_text("")
    proc = _finetune("models.fots.finetune", photos, "--out", tmp_path / "weights", "--steps", 1)
    assert proc.returncode == 2 and "config.json: damaged" in proc.stderr and "Traceback" not in proc.stderr

    (tmp_path / "weights" / "config.json").write_text('{"steps": 1}')

    def killed(config, f, **kw):
        f.write('{"half": ')
        raise KeyboardInterrupt

    class Task(training.Task):
        def settings(self):
            return {}

    monkeypatch.setattr(training.json, "dump", killed)
    with pytest.raises(KeyboardInterrupt):
        training._write_config(str(tmp_path / "weights"), Task(), dict(training.FRESH), training.Schedule(
            lr=1e-3, minutes=1, steps=1, warmup=0, bf16=False, log_every=1, valid_every=1), {})
    assert json.loads((tmp_path / "weights" / "config.json").read_text()) == {"steps": 1}


def test_easyocr_fine_tuning_takes_its_own_alphabet_and_advises_what_its_command_accepts(tmp_path):
    from models.easyocr_codes.finetune import characters

    rows = ["img/%d.png,lot 1a,2,2,60,20," % i for i in range(6)]
    folder = _images(tmp_path / "lower", ["%d.png" % i for i in range(6)])
    (tmp_path / "lower" / "manifest.csv").write_text("image,text,x,y,w,h,split\n" + "\n".join(rows) + "\n")
    from models.fots import annotated

    assert annotated.load(folder, vocab=characters()).train[0].lines[0][1] == "lot 1a"  # lower case is EasyOCR's
    (tmp_path / "lower" / "manifest.csv").write_text("image,text,x,y,w,h,split\n" +
                                                     "\n".join(r.replace("lot", "lot中") for r in rows) + "\n")
    proc = _finetune("models.easyocr_codes.finetune", "--cache", tmp_path / "nocache", "--dataset", folder)
    assert proc.returncode == 2 and "outside the recogniser's alphabet" in proc.stderr and "'中'" in proc.stderr
    assert "--map" not in proc.stderr.split("'中'")[1].split("make train-fots")[0], proc.stderr


# 29. the general engines as their users get them -----------------------------------------------
def test_the_default_suite_runs_each_general_engine_with_its_defaults_and_tuned_settings_as_rows_of_their_own():
    import yaml

    from tests.conftest import REPO

    with open(os.path.join(REPO, "bench", "suites", "default.yaml")) as f:
        engines = yaml.safe_load(f)["engines"]
    assert not engines["easyocr"].get("options") and not engines["tesseract"].get("options")
    for name in ("paddleocr", "rapidocr", "ppocrv6"):  # only what a crop needs to be read at all
        assert set(engines[name]["options"]) == {"det_limit_type", "det_limit_side_len"}, name
    assert engines["easyocr-tuned"]["options"]["readtext"] and engines["easyocr-tuned"]["adapter"] == \
        "adapters.easyocr:Adapter"
    assert set(engines["easyocr-codes"]["options"]) == {"network"}
    assert "readtext" in engines["easyocr-codes-tuned"]["options"]


# 30. a damaged weights folder -----------------------------------------------------------------
def test_a_damaged_weights_folder_is_refused_before_anything_runs_naming_the_file(tmp_path, small_dataset):
    import shutil

    from tests.conftest import REPO

    lite = os.path.join(REPO, "models", "fots", "weights", "fots-lite")
    cases = {"not-json": ("config.json", b"{", "config.json cannot be read as JSON"),
             "no-backbone": ("config.json", None, "config.json lacks the network's backbone"),
             "cut-short": ("model.pt", None, "model.pt is not a torch checkpoint")}
    for name, (damaged, content, said) in cases.items():
        folder = tmp_path / name
        os.makedirs(str(folder))
        for kept in ("config.json", "model.pt"):
            shutil.copy(os.path.join(lite, kept), str(folder / kept))
        if name == "no-backbone":
            config = json.load(open(str(folder / "config.json")))
            del config["backbone"]
            content = json.dumps(config).encode()
        if name == "cut-short":
            content = (folder / "model.pt").read_bytes()[:50000]
        (folder / damaged).write_bytes(content)
        proc = _run(tmp_path, small_dataset, {"fots": {"adapter": "adapters.fots:Adapter", "modes": ["cpu"],
                                                        "options": {"weights": str(folder)}}})
        assert proc.returncode == 2 and "engines.fots.options: weights: %s" % (folder / damaged) in proc.stderr, \
            proc.stderr
        assert said in proc.stderr and "Traceback" not in proc.stderr and not (tmp_path / "results").exists()
