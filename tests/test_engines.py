"""The real engines, with their real offline weights, on a few images."""
import csv
import json
import os
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from adapters.base import join_reading_order
from bench import metrics
from synth.frames import FONT_ROOT
from bench.worker import adapter_class
from tests.conftest import EMBEDDED, REPO, bench, run_folder


@pytest.fixture(scope="module")
def clean_label():
    """A sharp, high-contrast two-line label every engine should read."""
    font = ImageFont.truetype(os.path.join(FONT_ROOT, "truetype/dejavu/DejaVuSansMono-Bold.ttf"), 40)
    image = Image.new("L", (460, 130), 255)
    draw = ImageDraw.Draw(image)
    draw.text((16, 12), "LOT 2215029520", font=font, fill=0)
    draw.text((16, 70), "EXP 08/2023", font=font, fill=0)
    return np.asarray(image)


def test_easyocr_onnx_graphs_match_its_float_networks(clean_label, tmp_path):
    """The exported detector and recogniser (height pooling as a mean) agree with EasyOCR's
    PyTorch networks on inputs of other sizes than the export's, and the ONNX pipeline
    reads the label; trt-int8's calibration, run with CPU sessions where TensorRT would
    build, records what each network is fed and writes a table per graph."""
    import torch

    from adapters.easyocr import recogniser_for_export

    onnx = adapter_class("adapters.easyocr:Adapter")()
    onnx.load("onnx-cpu", {})
    import easyocr
    import easyocr_en_models

    reader = easyocr.Reader(["en"], gpu=False, model_storage_directory=easyocr_en_models.model_dir(),
                            user_network_directory=easyocr_en_models.model_dir(), download_enabled=False,
                            verbose=False, quantize=False)
    images = torch.rand(1, 3, 96, 640)
    lines = torch.rand(2, 1, 64, 320)
    with torch.no_grad():
        maps, _ = reader.detector.eval()(images)
        logits = reader.recognizer.eval()(lines, None)
        assert torch.equal(recogniser_for_export(reader.recognizer, torch).eval()(lines), logits)
    assert np.abs(onnx._reader.detector(images)[0].numpy() - maps.numpy()).max() < 1e-4
    assert np.abs(onnx._reader.recognizer(lines).numpy() - logits.numpy()).max() < 1e-3
    text = join_reading_order(onnx.infer(onnx.preprocess(clean_label)))
    assert metrics.normalize(text, casefold=True) == "LOT2215029520EXP08/2023", text

    onnx._engines = str(tmp_path)
    onnx._record()  # as load leaves trt-int8
    onnx.calibrate([clean_label])
    for graph in ("detector", "recognizer"):
        (folder,) = os.listdir(str(tmp_path / graph))
        assert os.path.getsize(str(tmp_path / graph / folder / "calibration.flatbuffers")) > 1000
    assert re.fullmatch(r"MinMax, 1 images, [2-9] lines", onnx.versions()["int8-calibration"])
    assert join_reading_order(onnx.infer(onnx.preprocess(clean_label))) == text


@pytest.mark.parametrize("engine", ["easyocr", "paddleocr", "rapidocr", "ppocrv6", "tesseract"])
def test_engine_reads_a_clean_label_on_cpu(engine, clean_label):
    adapter = adapter_class("adapters.%s:Adapter" % engine)()
    adapter.load("cpu", {})
    try:
        text = join_reading_order(adapter.infer(adapter.preprocess(clean_label)))
    finally:
        adapter.close()
    assert metrics.normalize(text, casefold=True) == "LOT2215029520EXP08/2023", text  # EasyOCR: "LOt"
    assert all(os.path.isfile(f) for f in adapter.model_files()) and adapter.model_files()


def test_default_suite_on_embedded_images(tmp_path):
    """`make bench` in miniature: real rows on the CPU, reasons for the rest."""
    proc = bench("--dataset", EMBEDDED, "--limit", 3, "--warmup", 1, "--results", tmp_path)
    assert proc.returncode == 0, proc.stderr
    folder = run_folder(tmp_path)
    with open(os.path.join(folder, "summary.csv")) as f:
        rows = {(r["engine"], r["mode"]): r for r in csv.DictReader(f)}
    assert len(rows) == 72  # 12 engines x cpu, gpu, trt-fp32, trt-fp16, trt-int8; onnx-cpu for the four
    # EasyOCR rows, fots, fots-lite, charcls, fots-int8, fots-grammar, charcls-reject; gpu-fp16 for fots, fots-lite
    assert rows[("fots-grammar", "onnx-cpu")]["status"] == rows[("charcls-reject", "onnx-cpu")]["status"] == "ok"
    for engine in ("fots-int8", "fots-lite", "fots"):  # the lean path: no torch in these workers
        assert rows[(engine, "onnx-cpu")]["status"] == "ok" and float(rows[(engine, "onnx-cpu")]["peak_rss_mb"]) < 200
    for key, row in rows.items():  # the embedded set's grammar.txt: a constrained reading for every ok cell
        if row["status"] == "ok":
            assert row["strict_acc_grammar"] != "" and row["n_grammar_worse"] != "", key
    for engine in ("easyocr", "easyocr-codes", "paddleocr", "rapidocr", "ppocrv6", "ppocrv6-codes", "tesseract", "fots",
                   "fots-lite", "charcls"):
        cpu = rows[(engine, "cpu")]
        assert cpu["status"] == "ok", cpu["reason"]
        assert cpu["n"] == "3" and float(cpu["t_total_ms"]) > 0 and float(cpu["model_mb"]) > 1
        assert 0 <= float(cpu["cer"]) and float(cpu["peak_rss_mb"]) > 50
        assert cpu["scenario"] == "single-stream" and cpu["threads"] == ""  # the default suite: engines' own
    for key, row in rows.items():
        if key[1] != "cpu":
            assert row["status"] in ("skipped", "ok"), row
            assert row["status"] == "ok" or row["reason"], row
    assert "quantisation-aware" in rows[("paddleocr", "trt-int8")]["reason"]
    assert "not calibrated" in rows[("ppocrv6", "trt-int8")]["reason"]
    assert "onnxruntime-gpu" in rows[("ppocrv6", "gpu")]["reason"]  # no CUDA provider here: skipped, never faked
    assert rows[("ppocrv6", "cpu")]["model"] == "PP-OCRv6 small (det + rec)"
    assert rows[("rapidocr", "cpu")]["model"] == "PP-OCRv4 (det + rec)"
    for engine in ("ppocrv6", "fots"):  # the engine's own stage times, through the worker into both files
        assert float(rows[(engine, "cpu")]["t_det_ms"]) > 0 and float(rows[(engine, "cpu")]["t_rec_ms"]) > 0
    assert "fine-tuned on codes" in rows[("easyocr-codes", "cpu")]["model"]
    assert "rec fine-tuned on codes" in rows[("ppocrv6-codes", "cpu")]["model"]
    assert "not calibrated" in rows[("ppocrv6-codes", "trt-int8")]["reason"]
    with open(os.path.join(folder, "cells.json")) as f:
        cells = json.load(f)
    for cell in ("easyocr/cpu", "fots/cpu"):  # what GPU stack the engine's build carries
        assert {"torch-cuda", "torch-cudnn"} <= set(cells[cell]["env"]["packages"]), cell
    assert cells["paddleocr/cpu"]["env"]["packages"]["paddle-cuda"] == "none"  # the CPU build
    assert cells["ppocrv6/cpu"]["env"]["packages"]["rapidocr"] == "3.10.0"
    # every ONNX Runtime cell on the CPU: the sessions of its worker share one thread pool
    for cell in ("fots/onnx-cpu", "fots-lite/onnx-cpu", "charcls/onnx-cpu", "easyocr/onnx-cpu", "ppocrv6/cpu",
                 "rapidocr/cpu"):
        assert cells[cell]["env"]["packages"]["onnx-threads"].endswith("one pool shared by the sessions"), cell


def test_ppocrv6_threads_reach_its_sessions_and_an_old_python_is_a_skip(clean_label, monkeypatch):
    """The suite's threads reach every ONNX Runtime session of the pipeline (the harness
    makes them; rapidocr's own config gets them too), nothing outside the wheel is read, and
    an interpreter older than 3.8 is a skip with the reason, not a failure."""
    from adapters.base import THREADS_ENV, ModeUnavailable
    from adapters import ppocrv6

    monkeypatch.setenv(THREADS_ENV, "1")
    adapter = adapter_class("adapters.ppocrv6:Adapter")()
    adapter.load("cpu", {"det_limit_type": "min", "det_limit_side_len": 160})
    engine = adapter._engine
    for stage in (engine.text_det, engine.text_rec):
        options = stage.session.session.get_session_options()
        assert options.intra_op_num_threads == 1
    assert engine.cfg.EngineConfig.onnxruntime.intra_op_num_threads == 1
    assert all(os.path.dirname(f).endswith(os.path.join("rapidocr", "models")) for f in adapter.model_files())
    text = join_reading_order(adapter.infer(adapter.preprocess(clean_label)))
    assert metrics.normalize(text) == "LOT2215029520EXP08/2023", text
    assert adapter.stage_ms["det"] > 0 and adapter.stage_ms["rec"] > 0
    monkeypatch.setattr(ppocrv6.sys, "version_info", (3, 6, 9, "final", 0))
    with pytest.raises(ModeUnavailable, match="Python >= 3.8"):
        ppocrv6.Adapter().load("cpu", {})


def test_easyocr_reads_a_code_line_whole_with_the_suite_settings():
    """EasyOCR's defaults cut a `PRO:..EXP:..L..H..:..` line into pieces at its colons and
    lose them; the default suite's `readtext` settings (lines merged across gaps, the crop
    magnified) read the same crops whole with the fine-tuned recogniser. A setting EasyOCR's
    readtext does not have is refused by name."""
    import cv2
    import yaml

    with open(os.path.join(REPO, "bench", "suites", "default.yaml")) as f:
        options = yaml.safe_load(f)["engines"]["easyocr-codes-tuned"]["options"]
    with open(os.path.join(EMBEDDED, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    crops = []
    for row in (rows[i] for i in (46, 48, 54)):  # lines whose colons EasyOCR's defaults drop
        gray = cv2.imread(os.path.join(EMBEDDED, row["image"]), cv2.IMREAD_GRAYSCALE)
        x, y, w, h = (int(row[k]) for k in "xywh")
        crops.append((gray[y:y + h, x:x + w], row["text"]))
    adapter = adapter_class("adapters.easyocr:Adapter")()
    adapter.load("cpu", options)

    def read(settings):  # through EasyOCR's own readtext
        adapter._readtext, adapter._reach = settings, None
        return [metrics.normalize(join_reading_order(adapter.infer(c))) for c, _ in crops]

    assert read(options["readtext"]) == [metrics.normalize(t) for _, t in crops]
    assert sum(":" not in r[:4] for r in read({})) >= 2  # "PRO 09/2020EXP:..."
    with pytest.raises(ValueError, match="readtext has no setting 'width_th'"):
        adapter.load("cpu", dict(options, readtext={"width_th": 2.0}))
    with pytest.raises(ValueError, match="readtext: a mapping"):
        adapter.check_options({"readtext": [2.0]})
