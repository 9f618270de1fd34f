"""The reporter, on result folders made by real harness runs on a few images."""
import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from bench.report import checks, plots, stats
from tests.conftest import REPO, bench, write_suite

TESSERACT = {"modes": ["cpu", "gpu"]}
ECHO = {"adapter": "tests.fault_adapters:Echo", "modes": ["cpu", "gpu"], "options": {"text": "LOT 123"}}


@pytest.fixture(scope="module")
def results(tmp_path_factory, small_dataset):
    """Two 'devices' that ran the same six images, and a third on three other images."""
    root = tmp_path_factory.mktemp("results")
    suite = write_suite(root / "suite.json", {"tesseract": TESSERACT, "echo": ECHO}, warmup=1)
    for device in ("server-box", "nano-box"):
        proc = bench("--config", suite, "--dataset", small_dataset, "--results", root / "runs", "--device", device)
        assert proc.returncode == 0, proc.stderr
    return root / "runs"


def report(*args):
    return subprocess.run([sys.executable, "-m", "bench.report"] + [str(a) for a in args], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def _digest(folder):
    h = hashlib.sha256()
    for dirpath, _, files in sorted(os.walk(str(folder))):
        for name in sorted(files):
            with open(os.path.join(dirpath, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def summary_of(results, device):
    folder = [os.path.join(dp) for dp, _, fs in os.walk(str(results / device)) if "summary.csv" in fs][0]
    with open(os.path.join(folder, "summary.csv")) as f:
        return {(r["engine"], r["mode"]): r for r in csv.DictReader(f)}


def test_report_tables_match_the_result_csvs(results, tmp_path):
    before = _digest(results)
    out = tmp_path / "report"
    proc = report(results, "--out", out, "--alias", "server-box=Server", "--alias", "nano-box=Nano",
                  "--order", "Server CPU,Nano CPU")
    assert proc.returncode == 0, proc.stderr
    assert _digest(results) == before  # result folders are only read

    table = pd.read_csv(out / "tables" / "tesseract.csv", index_col="metric")
    assert list(table.columns) == ["Server CPU", "Nano CPU"]
    for label, device in (("Server CPU", "server-box"), ("Nano CPU", "nano-box")):
        row = summary_of(results, device)[("tesseract", "cpu")]
        assert table.loc["Strict accuracy (%)", label] == pytest.approx(float(row["strict_acc"]) * 100)
        assert table.loc["CER (%)", label] == pytest.approx(float(row["cer"]) * 100)
        assert table.loc["Per sample (ms)", label] == pytest.approx(float(row["t_total_ms"]))
        assert table.loc["Throughput (FPS)", label] == pytest.approx(float(row["fps"]))
        assert table.loc["Peak memory (MB)", label] == pytest.approx(float(row["peak_rss_mb"]))

    md = (out / "report.md").read_text()
    assert "### tesseract" in md and "| Server CPU" in md
    assert "--alias" not in md and "--order" not in md  # both name what the runs hold: no warning
    assert "skipped (Tesseract has no GPU backend): tesseract Server GPU, tesseract Nano GPU" in md
    # the published PaddleOCR FP16 collapse on the Nano is flagged as published
    assert "Published: paddleocr on Nano: Nano TRT FP16 reads far worse than Nano TRT FP32" in md
    assert "## Paired comparisons" in md and "tesseract Server CPU | tesseract Nano CPU" in md
    assert "\\toprule" in (out / "tables" / "tesseract.tex").read_text()
    for png in ("throughput.png", "accuracy_latency.png", "confusions.png"):
        assert (out / png).stat().st_size > 10000, png
        assert "](%s)" % png in md


def test_an_alias_or_order_naming_nothing_is_warned_about_and_an_empty_alias_refused(results, tmp_path):
    proc = report(results, "--out", tmp_path / "r", "--alias", "nano=Nano", "--order", "Server CPU,Nano CPU")
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "r" / "report.md").read_text()
    assert "--alias nano=Nano names no device of these runs (they are nano-box, server-box)" in md, md
    assert "--order names 'Server CPU', 'Nano CPU', which no table has" in md and "nano-box CPU" in md, md
    proc = report(results, "--out", tmp_path / "r2", "--alias", "nano-box=")
    assert proc.returncode == 2 and "--alias 'nano-box='" in proc.stderr and not (tmp_path / "r2").exists()


def test_published_columns_sit_beside_measured_ones(results, tmp_path):
    refs = tmp_path / "refs.csv"
    refs.write_text("engine,label,device,mode,strict_acc_pct,cer_pct,char_precision_pct,char_recall_pct,"
                    "ms_per_sample,fps,source\n"
                    "tesseract,Nano CPU,Nano,cpu,1.5,40.0,70.0,71.0,900,1.11,Some paper 2024\n")
    proc = report(results, "--out", tmp_path / "r", "--references", refs)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "r" / "tables" / "tesseract.csv", index_col="metric")
    assert table.columns[-1] == "Nano CPU†"
    assert table.loc["CER (%)", "Nano CPU†"] == 40.0 and pd.isna(table.loc["OCR (ms)", "Nano CPU†"])
    assert "† Published figures (Some paper 2024)" in (tmp_path / "r" / "report.md").read_text()


def test_runs_on_different_datasets_are_flagged(results, tmp_path, small_dataset):
    other = tmp_path / "other"
    shutil.copytree(small_dataset, str(other))
    lines = (other / "manifest.csv").read_text().splitlines()
    (other / "manifest.csv").write_text("\n".join(lines[:4]) + "\n")
    suite = write_suite(tmp_path / "suite.json", {"echo": ECHO}, warmup=0)
    proc = bench("--config", suite, "--dataset", other, "--results", tmp_path / "runs", "--device", "third")
    assert proc.returncode == 0, proc.stderr
    proc = report(results, tmp_path / "runs", "--out", tmp_path / "r", "--no-references")
    assert proc.returncode == 0, proc.stderr
    md = (tmp_path / "r" / "report.md").read_text()
    assert "runs on different datasets are compared" in md
    assert "has 3 samples, fewer than 30: no 95% interval" in md


def test_result_folder_from_another_version_gives_a_clear_message(results, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(str(results), str(copy))
    samples = [os.path.join(dp, "samples.csv") for dp, _, fs in os.walk(str(copy)) if "samples.csv" in fs][0]
    pd.read_csv(samples).drop(columns=["t_infer_ms"]).to_csv(samples, index=False)
    proc = report(copy, "--out", tmp_path / "r")
    assert proc.returncode == 2
    assert "samples.csv: lacks column(s) t_infer_ms; written by another version of the harness?" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = report(tmp_path / "nothing-here", "--out", tmp_path / "r")
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr


def test_collapse_against_the_fp32_twin():
    cells = pd.DataFrame({"engine": ["p", "p", "p"], "device": ["Nano"] * 3, "mode": ["trt-fp32", "trt-fp16", "cpu"],
                          "strict_acc": [0.07, 0.0, 0.05], "cer": [0.138, 0.8154, 0.14]})
    found = checks.collapses(cells)
    assert len(found) == 1 and "Nano TRT FP16 reads far worse than Nano TRT FP32" in found[0]
    assert "CER 81.5% vs 13.8%" in found[0]


def test_mcnemar_by_hand_and_bootstrap_brackets_the_estimate():
    a = pd.Series([1] * 8 + [0] * 1 + [1] * 5)
    b = pd.Series([0] * 8 + [1] * 1 + [1] * 5)
    test = stats.mcnemar(a, b)
    # 8 vs 1 discordant: two-sided exact binomial p = 2 * (C(9,8) + C(9,9)) / 2^9
    assert (test["only_a"], test["only_b"]) == (8, 1)
    assert test["p"] == pytest.approx(2 * 10 / 512)
    cell = pd.DataFrame({"correct": [1, 0] * 50, "edits": [0, 2] * 50, "gt_len": [10] * 100,
                         "t_total_ms": list(range(100))})
    ci = stats.bootstrap(cell)
    assert ci["acc_lo"] < 0.5 < ci["acc_hi"] and ci["cer_lo"] < 0.1 < ci["cer_hi"]
    assert ci["p50_lo"] < 49.5 < ci["p50_hi"]
    assert stats.bootstrap(cell.head(10))["acc_lo"] is None


def test_pareto_front():
    points = [(10, 50), (20, 40), (30, 70), (5, 20), (30, 60)]
    assert plots.pareto_front(points) == [(5, 20), (10, 50), (30, 70)]


def test_every_cell_of_the_accuracy_latency_plot_is_named_by_its_own_colour_and_marker(tmp_path):
    """No label drifts beside another cell's point: each cell has a colour (engine) and a
    marker (device and mode) of its own, and the plot is drawn with them."""
    cells = pd.DataFrame([(e, d, m, 50.0, 0.5, 0.05) for e in ("easyocr", "fots", "tesseract", "rapidocr")
                          for d in ("nano", "server") for m in ("cpu", "onnx-cpu", "gpu")],
                         columns=["engine", "device", "mode", "t_total_p50_ms", "strict_acc", "cer"])
    styles = plots.cell_styles(cells, ["easyocr", "fots", "tesseract", "rapidocr"])
    assert len(set(styles.values())) == len(cells) == 24
    path = plots.accuracy_latency(cells, ["easyocr", "fots", "tesseract", "rapidocr"], str(tmp_path / "a.png"))
    assert os.path.getsize(path) > 0


def test_shipped_references_hold_the_published_figures():
    ref = pd.read_csv(os.path.join(REPO, "reports", "published", "jetson-nano-ocr-2025.csv"))
    assert len(ref) == 14
    row = ref[(ref.engine == "paddleocr") & (ref.label == "Nano TRT FP16")].iloc[0]
    assert (row.cer_pct, row.char_precision_pct, row.ms_per_sample) == (81.54, 30.80, 142)
    fots = pd.read_csv(os.path.join(REPO, "reports", "published", "fots-backbones-nano.csv"))
    assert fots.iloc[-1].tolist()[:5] == ["EfficientNet-B3 (EN3)", 3.03, 0.87, 94.86, 99.19]


def test_provenance_names_the_gpu_with_what_its_run_recorded():
    from bench.report.document import gpu_text

    assert gpu_text({"name": "NVIDIA H100 80GB HBM3", "driver": "550.54.15", "cuda_driver": "12.4",
                     "sm_clock_max": "1980 MHz", "power_limit": "700.00 W"}) == \
        "NVIDIA H100 80GB HBM3 (driver 550.54.15, CUDA 12.4, SM clock max 1980 MHz, power limit 700.00 W)"
    assert gpu_text({"name": "Tesla T4", "driver": "418.67", "memory": "15109 MiB"}) == "Tesla T4 (driver 418.67)"


def test_the_committed_h100_reference_run_loads_with_gpu_rows_and_honest_energy():
    """reports/reference/ is read like any result folder: the H100's GPU cells are there,
    and no CPU cell carries an energy figure made from the GPU board's power."""
    from bench.report import load

    results = load.load([os.path.join(REPO, "reports", "reference")])
    (run,) = results.runs
    assert run.meta["device"] == "h100-80gb-hbm3" and run.meta["fingerprint"]["gpus"][0]["compute_capability"] == "9.0"
    ok = run.summary[run.summary["status"] == "ok"].set_index(["engine", "mode"])
    assert {("easyocr", "gpu"), ("fots", "gpu")} <= set(ok.index)
    assert ok.loc[("fots", "gpu"), "energy_mj_per_sample"] > 0
    cpu = ok[[m in ("cpu", "onnx-cpu") for _, m in ok.index]]
    assert len(cpu) == 5 and cpu["energy_mj_per_sample"].isna().all()
    assert len(run.samples) == 7 * 200


def test_every_latex_table_compiles_and_fits_a_one_column_page(results, tmp_path):
    """Each table the report writes, \\input into a plain one-column article with booktabs
    (as an author would), compiles with pdflatex and is no wider than the text: the two-device
    fixture runs beside the committed H100 reference run and the published figures."""
    assert shutil.which("pdflatex"), "pdflatex is missing: make installs texlive-latex-base (env/system-packages.txt)"
    out = tmp_path / "report"
    proc = report(results, os.path.join(REPO, "reports", "reference"), "--out", out)
    assert proc.returncode == 0, proc.stderr
    written = sorted((out / "tables").glob("*.tex"))
    assert {"headline.tex", "tesseract.tex", "fots.tex"} <= {p.name for p in written}
    for tex in written:
        (tmp_path / "doc.tex").write_text("\\documentclass{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage{booktabs}\n"
                                          "\\begin{document}\n\\input{%s}\n\\end{document}\n" % tex)
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=str(tmp_path),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, errors="replace")
        assert run.returncode == 0, (tex.name, run.stdout[-1500:])
        wide = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", run.stdout)]
        assert max(wide, default=0.0) <= 3.0, (tex.name, wide)
