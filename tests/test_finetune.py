"""Fine-tuning the FOTS reader on a user's annotated photos (`make train-fots DATASET=...`):
the annotation's problems named by file and row, and a real fine-tuning run on a style the
committed weights never saw that reads held-out photos of that style better, then a
benchmark row for the fine-tuned weights beside the committed ones."""
import csv
import json
import os
import subprocess
import sys

import pytest

from models.fots import annotated, finetune, reader
from tests.conftest import REPO, bench, run_folder, write_suite


def manifest(tmp_path, rows, images=6):
    import numpy as np
    import cv2

    (tmp_path / "img").mkdir(exist_ok=True)
    for i in range(images):
        cv2.imwrite(str(tmp_path / "img" / ("%d.png" % i)), np.full((60, 200), 200, np.uint8))
    (tmp_path / "manifest.csv").write_text("image,text,x,y,w,h,split\n" + "".join(r + "\n" for r in rows))
    return str(tmp_path)


@pytest.mark.parametrize("rows, message", [
    (["img/%d.png,LOT 1,,,,," % i for i in range(6)], r"manifest.csv row 2 \(.*0.png\): no box; fine-tuning needs"),
    (["img/%d.png,lot #1,5,5,100,20," % i for i in range(6)],
     r"row 2 \(.*0.png\): characters outside the recogniser's alphabet .*: '#', 'l', 'o', 't'; map them"),
    (["img/%d.png,LOT 1,150,5,100,20," % i for i in range(6)],
     r"manifest.csv row 2: box \(150,5,100,20\) reaches past the 200x60 image .*0.png"),
    (["img/%d.png,LOT 1,5,5,100,20," % i for i in range(3)], r"3 image\(s\), too few to hold any out"),
    (["img/%d.png,LOT 1,5,5,100,20,test" % i for i in range(6)], r"every image is marked split: test"),
])
def test_annotation_problems_are_named_by_file_and_row(tmp_path, rows, message):
    with pytest.raises(annotated.AnnotationError, match=message):
        annotated.load(manifest(tmp_path, rows))


def test_characters_can_be_mapped_or_dropped_and_a_test_image_is_held_out_without_a_split(tmp_path):
    folder = manifest(tmp_path, ["img/%d.png,lot #1,5,5,100,20," % i for i in range(6)])
    photos = annotated.load(folder, finetune._mapping(["l=L", "o=O", "t=T", "#="]))
    assert photos.train[0].lines[0][1] == "LOT 1"
    assert annotated.load(folder, drop_unknown=True).train[0].lines[0][1] == " 1"
    assert (len(photos.train), len(photos.test)) == (5, 1) and "every 10th image" in photos.about["held_out"]


def test_fine_tuning_on_an_unseen_style_reads_its_held_out_photos_better_and_benchmarks(tmp_path):
    """`make train-fots DATASET=...` as a user runs it: the line recogniser fine-tuned on
    photos of a code format the committed reader never trained on reads the held-out
    photos better, end to end (the held-out font family no longer serves: the committed
    reader reads 80% of such photos before and after); the weights folder records the data and where it started, and
    benchmarks beside the committed reader."""
    photos_dir = str(tmp_path / "format")
    annotated.write_example(photos_dir, count=100, test=25, held_out="format")
    photos = annotated.load(photos_dir)
    model, _ = reader.load()
    before = finetune.read_photos(model, model.lines, "cpu", photos.test)
    out = str(tmp_path / "weights")
    subprocess.run([sys.executable, "-m", "models.fots.finetune", photos_dir, "--out", out, "--steps", "200",
                    "--batch", "16", "--generated", "0.25", "--workers", "0", "--valid-every", "200", "--valid", "10",
                    "--lr", "1e-3"], check=True, cwd=REPO, timeout=900)
    with open(os.path.join(out, "config.json")) as f:
        config = json.load(f)
    after = config["validation"]
    assert config["steps"] == 200 and config["dataset"]["manifest_sha256"] == photos.about["manifest_sha256"]
    with open(os.path.join(reader.WEIGHTS, "config.json")) as f:
        committed = json.load(f)["steps"]
    assert config["fine_tuned_from"]["steps"] == committed and config["dataset"]["test_images"] == 25
    assert after["valid_user_exact"] > before["valid_user_exact"] and after["valid_user_cer"] < before["valid_user_cer"]

    suite = write_suite(tmp_path / "suite.json", {
        "fots": {"modes": ["cpu"]},
        "fots-tuned": {"adapter": "adapters.fots:Adapter", "modes": ["cpu"], "options": {"weights": out}}},
        warmup=1, telemetry_interval_s=0)
    proc = bench("--config", suite, "--dataset", photos_dir, "--limit", "8", "--results", tmp_path / "results")
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(run_folder(tmp_path / "results"), "summary.csv")) as f:
        rows = {r["engine"]: r for r in csv.DictReader(f)}
    assert rows["fots"]["status"] == rows["fots-tuned"]["status"] == "ok" and rows["fots-tuned"]["n"] == "8"
    assert "fine-tuned on format" in rows["fots-tuned"]["model"]


@pytest.mark.parametrize("module", ["models.easyocr_codes.finetune", "models.ppocrv6_codes.finetune"])
def test_the_general_engines_fine_tuning_refuses_bad_annotations_and_another_manifests_folder(tmp_path, module):
    """`make finetune-easyocr DATASET=...` and `make finetune-ppocrv6 DATASET=...`: a wrong row
    stops it before training, named by file and row, exit 2; so does a folder holding a run
    on another manifest."""
    for name in ("bad", "good", "out"):
        (tmp_path / name).mkdir()
    bad = manifest(tmp_path / "bad", ["img/%d.png,LOT 1,150,5,100,20," % i for i in range(6)])
    proc = subprocess.run([sys.executable, "-m", module, "--cache", str(tmp_path / "no-cache"), "--dataset", bad,
                           "--out", str(tmp_path / "out")], cwd=REPO, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "manifest.csv row 2: box (150,5,100,20) reaches past the 200x60 image" in proc.stderr
    good = manifest(tmp_path / "good", ["img/%d.png,LOT 1,5,5,100,20," % i for i in range(6)])
    (tmp_path / "out" / "config.json").write_text(json.dumps({"dataset": {"manifest_sha256": "0" * 64}}))
    proc = subprocess.run([sys.executable, "-m", module, "--cache", str(tmp_path / "no-cache"), "--dataset", good,
                           "--out", str(tmp_path / "out")], cwd=REPO, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "holds a fine-tuning run on another manifest" in proc.stderr
    for wrong, said in ((["--dataset", str(tmp_path / "none")], "none: manifest not found"),
                        (["--batch", "0"], "argument --batch: '0': expected a whole number, at least 1"),
                        (["--minutes", "-5"], "argument --minutes: '-5': expected a number above 0"),
                        (["--photos", "2"], "argument --photos: '2': expected a share from 0 to 1")):
        proc = subprocess.run([sys.executable, "-m", module, "--cache", str(tmp_path / "no-cache"),
                               "--out", str(tmp_path / "out")] + wrong, cwd=REPO, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=300)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr and said in proc.stderr, proc.stderr[-2000:]
