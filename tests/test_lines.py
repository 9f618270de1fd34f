"""Line crops and the training that reads them: the generators' lines (synth/lines.py) and
their cache, the recogniser's input (models/fots/lines.py), the one training loop
(models/training.py) keeping the weights that validate best, the reader's line recogniser,
EasyOCR's fine-tuning into a network EasyOCR itself loads, and the training cost benchmark.
Real generators, real files, real subprocesses."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from adapters.base import kept_steps
from models import recogniser_finetune, training
from models.fots import lines
from synth import lines as synth_lines
from tests.conftest import REPO


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A small line cache: 40 generated codes, their lines."""
    folder = str(tmp_path_factory.mktemp("lines"))
    assert synth_lines.write_cache(folder, synth_lines.TRAIN_START, 40) >= 40
    return folder


def test_generated_lines_are_deterministic_in_the_alphabet_and_their_boxes_on_their_pixels():
    vocab = set(synth_lines.CODE_CHARS + " ")
    seen = set()
    for i in range(30):
        found = synth_lines.line_samples(synth_lines.TRAIN_START + i)
        again = synth_lines.line_samples(synth_lines.TRAIN_START + i)
        assert [s.text for s in found] == [s.text for s in again]
        assert all(np.array_equal(a.image, b.image) for a, b in zip(found, again))
        for s in found:
            x0, y0, x1, y1 = s.box
            assert set(s.text) <= vocab and s.text.strip()
            assert 0 <= x0 < x1 <= s.image.shape[1] + 1 and 0 <= y0 < y1 <= s.image.shape[0] + 1
            assert y1 - y0 <= synth_lines.STORE_HEIGHT + 1
            seen.add(s.source.split(":")[0])
    assert seen == {"frames", "printing"}
    held = synth_lines.line_samples(5000, held_out="technique")
    assert all(s.source.split("/")[1] == "engraved" for s in held)


def test_mixed_lines_print_codes_parts_in_no_fixed_order_never_the_held_out_phrase():
    rng = np.random.default_rng(0)
    texts = [synth_lines.mixed_line(rng) for _ in range(400)]
    assert all(0 < len(t) <= 40 and set(t) <= set(synth_lines.CODE_CHARS + " ") for t in texts)
    assert not any("USE BY" in t for t in texts)
    assert sum(any(m in t for m in ("JAN", "MAR", "AUG", "DEC")) for t in texts) >= 20  # months by name
    assert len({t.split(" ")[0] for t in texts}) >= 100  # no fixed first field
    assert texts[:5] == [synth_lines.mixed_line(r) for r in [np.random.default_rng(0)] for _ in range(5)]
    mixed = [s.source for i in range(40) for s in synth_lines.line_samples(synth_lines.TRAIN_START + i,
                                                                           random_lines=0.0, mixed_lines=1.0)]
    assert all(src == "frames" or src.split("/")[-1] == "given" for src in mixed)
    plain = synth_lines.line_samples(synth_lines.TRAIN_START + 3)  # the default: as before, no mixed lines
    assert [s.text for s in plain] == [s.text for s in synth_lines.line_samples(synth_lines.TRAIN_START + 3,
                                                                                 mixed_lines=0.0)]


def test_binarised_lines_are_black_print_on_white_whatever_the_surface():
    rng = np.random.default_rng(0)
    white = []
    for i in range(80):  # enough lines for a stable share (20 codes: 0.84, 80: 0.92)
        for s in synth_lines.line_samples(synth_lines.TRAIN_START + i, styles=1.0):
            out = synth_lines.binarised(s.image, s.box, np.random.default_rng(i))
            assert set(np.unique(out)) <= {0, 255}
            white.append((out == 255).mean() > 0.5)  # the surface white, the print the smaller part
    assert np.mean(white) >= 0.9  # a label's darker pack around it may stay black
    view, box = synth_lines.augment(s, rng)
    assert view.dtype == np.uint8 and box[2] > box[0]


@pytest.mark.parametrize("light_print", [False, True])
def test_binarised_print_stays_legible_under_uneven_light(light_print):
    """Print of a known shape under a strong gradient of light with a glare: every way of
    binarising keeps the strokes black and the surface white (the old thresholds, set over
    the whole image, lost the print under the glare or flooded the dim side)."""
    import cv2

    ink = np.zeros((60, 400), np.uint8)
    cv2.putText(ink, "LOT 0B8 EXP 12/27", (12, 42), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 255, 3)
    light = np.linspace(80, 220, 400, dtype=np.float32)[None, :] + np.zeros((60, 1), np.float32)
    glare = 35 * np.exp(-(((np.arange(400) - 300) / 40.0) ** 2))[None, :]  # added to print and surface
    reflects = np.where(ink > 0, 0.9, 0.35) if light_print else np.where(ink > 0, 0.4, 1.0)
    gray = np.clip(light * reflects + glare, 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(ink)
    box = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    for seed in range(12):  # each kind of threshold, with and without smoothing
        out = synth_lines.binarised(gray, box, np.random.default_rng(seed))
        black, printed = out == 0, ink > 0
        assert (black & printed).sum() / printed.sum() > 0.8, seed  # the strokes kept
        assert (black & ~printed).sum() / (~printed).sum() < 0.08, seed  # strokes a pixel bolder at most: no flood


def test_the_cache_reads_back_what_was_written_and_drops_a_line_cut_short(cache, tmp_path):
    found = synth_lines.LineCache(cache)
    first = synth_lines.line_samples(synth_lines.TRAIN_START)[0]
    assert found[0].text == first.text and np.array_equal(found[0].image, first.image)
    assert len(found.widths(32)) == len(found) and (found.widths(32) > 0).all()
    import shutil

    copy = str(tmp_path / "copy")
    shutil.copytree(cache, copy)
    with open(os.path.join(copy, "lines-0.jsonl"), "a") as f:
        f.write('{"offset": 99999999, "shape": [10, 10], "box": [1, 1, 5, 5], "te')  # a killed writer's last line
    assert len(synth_lines.LineCache(copy)) == len(found)
    with pytest.raises(FileNotFoundError, match="no line cache"):
        synth_lines.LineCache(str(tmp_path / "none"))


def test_a_line_input_has_the_recogniser_s_height_and_survives_boxes_past_the_image():
    gray = np.full((30, 200), 200, np.uint8)
    gray[8:22, 10:190] = 30
    x = lines.line_input(gray, (10, 8, 190, 22))
    assert x.shape[0] == lines.HEIGHT and x.shape[1] % lines.STEP == 0 and 0 <= x.min() and x.max() <= 1
    assert lines.line_input(gray, (-50, -10, 260, 40)).shape[0] == lines.HEIGHT  # reaches past every edge
    assert lines.line_input(gray, (300, 50, 320, 60)).shape[0] == lines.HEIGHT  # wholly outside: surface only
    padded, steps = lines.batch([x, x[:, :64]])
    assert padded.shape == (2, 1, lines.HEIGHT, x.shape[1]) and list(steps) == [x.shape[1] // 4, 16]
    assert (padded[1, 0, :, 64:] == x[:, 63:64]).all()  # padded with its own last column


class Toy(training.Task):
    """A task whose validation figure is scripted: it rises, then falls."""

    figures = [0.2, 0.5, 0.3]

    def __init__(self):
        self.calls = 0

    def batches(self, step):
        while True:
            yield torch.randn(8, 3)

    def size(self, batch):
        return len(batch)

    def loss(self, model, batch, device):
        return {"loss": model(batch).pow(2).mean()}

    def validate(self, model, device):
        self.calls += 1
        return {"valid_exact": self.figures[min(self.calls, len(self.figures)) - 1], "examples": ["A | B"]}

    def save(self, model, folder):
        torch.save({"weight": model.weight.detach().clone(), "call": self.calls}, os.path.join(folder, "model.pt"))


def test_the_loop_keeps_the_weights_that_validate_best_and_resumes_with_its_budget(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = training.Schedule(lr=0.1, minutes=10, steps=6, log_every=2, valid_every=2)
    state = training.fit(Toy(), model, optimizer, str(tmp_path), schedule, where="cpu")
    assert state["step"] == 6 and state["samples"] == 48 and state["best"] == 0.5
    assert torch.load(str(tmp_path / "model.pt"))["call"] == 2  # the weights of step 4, not the last
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["validation"]["step"] == 4 and config["steps"] == 6
    assert kept_steps(config) == 4  # how the report names the weights: by the step kept, not the last
    log = [json.loads(line) for line in open(str(tmp_path / "train.log"))]
    assert [e["step"] for e in log if "valid_exact" in e] == [2, 4, 6] and [e.get("kept") for e in log
                                                                            if "valid_exact" in e] == [True, True, None]
    resumed = training.fit(Toy(), torch.nn.Linear(3, 2), torch.optim.SGD(model.parameters(), lr=0.1), str(tmp_path),
                           schedule._replace(steps=8), resume=True, where="cpu")
    assert resumed["step"] == 8 and resumed["samples"] == 64 and resumed["best"] == 0.5
    assert training.rate(schedule, 0.0, 0) == pytest.approx(0.1) and \
        training.rate(schedule, 1.0, 100) == pytest.approx(0.1 * schedule.floor)
    assert training.rate(schedule._replace(warmup=10), 0.0, 4) == pytest.approx(0.05)


class ToyWithLines(Toy):
    """The toy task with validation lines, named by their digest."""

    def __init__(self, text):
        super().__init__()
        self.valid = {"frames": [(np.zeros((2, 3), np.float32), text)]}

    def validation_id(self):
        return training.digest(self.valid)


def test_a_resumed_run_whose_validation_lines_changed_validates_its_start_again_and_keeps_it(tmp_path):
    """A generator fix changes the validation lines: the kept figure, measured on the old ones,
    is not compared with figures of the new ones (they could never beat it, or beat it unfairly)."""
    schedule = training.Schedule(lr=0.1, minutes=10, steps=4, log_every=2, valid_every=2)
    model = torch.nn.Linear(3, 2)
    first = training.fit(ToyWithLines("LOT 1"), model, torch.optim.SGD(model.parameters(), lr=0.1), str(tmp_path),
                         schedule, where="cpu")
    assert first["best"] == 0.5 and first["best_valid"]["valid_set"] == training.digest({"frames": [
        (np.zeros((2, 3), np.float32), "LOT 1")]})
    same = ToyWithLines("LOT 1")
    training.fit(same, torch.nn.Linear(3, 2), torch.optim.SGD(model.parameters(), lr=0.1), str(tmp_path),
                 schedule._replace(steps=6), resume=True, where="cpu")
    assert same.calls == 1  # the same lines: only the run's own validation at its end
    changed = ToyWithLines("LOT 2")
    changed.figures = [0.1, 0.05]  # the new lines are harder: lower figures than the kept 0.5
    state = training.fit(changed, torch.nn.Linear(3, 2), torch.optim.SGD(model.parameters(), lr=0.1), str(tmp_path),
                         schedule._replace(steps=8), resume=True, where="cpu")
    assert changed.calls == 2 and state["best"] == 0.1 and state["best_valid"]["step"] == 6  # its start, kept
    assert torch.load(str(tmp_path / "model.pt"))["call"] == 1
    log = [json.loads(line) for line in open(str(tmp_path / "train.log"))]
    assert "validation lines differ" in next(e["note"] for e in log if "note" in e)


def test_bf16_asked_for_where_the_machine_lacks_it_is_obeyed_with_a_warning(monkeypatch, capsys):
    """The model card's commands carry --bf16 (the AVX512-BF16 machine they ran on); on an AVX2 CPU
    bfloat16 is emulated, many times slower than float32: the run says so."""
    monkeypatch.setattr(training, "bf16_helps", lambda: False)
    assert training.use_bf16(True) is True and "emulated" in capsys.readouterr().err
    assert training.use_bf16(None) is False and training.use_bf16(False) is False
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(training, "bf16_helps", lambda: True)
    assert training.use_bf16(True) is True and training.use_bf16(None) is True
    assert capsys.readouterr().err == ""


def test_the_reader_s_recogniser_trains_on_line_crops_resumes_and_its_weights_read_in_the_adapter(cache, tmp_path):
    """`make train-fots` in miniature: the line recogniser trained from the cache into a reader
    folder with the committed detector, resumed, then read by the adapter in PyTorch and ONNX."""
    out = str(tmp_path / "reader")
    for steps in (2, 3):
        subprocess.run([sys.executable, "-m", "models.fots.train_lines", "--cache", cache, "--out", out,
                        "--steps", str(steps), "--batch", "8", "--valid", "3", "--valid-every", "2", "--log-every", "1",
                        "--workers", "0", "--resume"], check=True, cwd=REPO, timeout=600)
    config = json.loads(open(os.path.join(out, "config.json")).read())
    assert config["recognizer"] == "pixels" and config["steps"] == 3 and config["samples_seen"] == 24
    assert config["detector_steps"] > 0 and set(config["validation"]) >= {"valid_frames_exact", "valid_binarised_exact"}
    from bench.worker import adapter_class

    gray = np.full((40, 240), 220, np.uint8)
    for mode in ("cpu", "onnx-cpu"):
        adapter = adapter_class("adapters.fots:Adapter")()
        adapter.load(mode, {"weights": out})
        assert "line-pixels recogniser" in adapter.model_name
        adapter.infer(adapter.preprocess(gray))
        assert set(adapter.stage_ms) == {"det", "rec"}


def test_a_smaller_lstm_learns_the_recognisers_reading_from_its_own_and_keeps_the_upright_pass(cache, tmp_path):
    """`python -m models.fots.distill_head` in miniature: the student keeps the teacher's
    convolutions (frozen) and detector, has an LSTM of 16 units each way, learns from the
    teacher's outputs and the true text (generated lines and a set's photographs), and its
    folder reads in PyTorch and ONNX alike, with the one-pass upright graph."""
    from bench.dataset import decode as decode_image, open_dataset, read_bytes
    from bench.worker import adapter_class
    from models.fots import graphs
    from tests.conftest import EMBEDDED

    teacher = os.path.join(REPO, "models", "fots", "weights", "fots-lite")
    out = str(tmp_path / "small")
    proc = subprocess.run([sys.executable, "-m", "models.fots.distill_head", "--teacher", teacher, "--out", out,
                           "--hidden", "16", "--cache", cache, "--photos",
                           os.path.join(REPO, "datasets", "real-useby", "train"), "--steps", "2", "--batch", "8",
                           "--valid", "2", "--valid-every", "2", "--log-every", "1", "--workers", "0"],
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = [json.loads(line) for line in open(os.path.join(out, "train.log"))]
    steps = [e for e in log if "kl" in e]
    assert [e["step"] for e in steps] == [1, 2] and all(e["kl"] > 0 and e["ctc"] > 0 for e in steps)
    config, taught = (json.loads(open(os.path.join(folder, "config.json")).read()) for folder in (out, teacher))
    assert config["lines"]["hidden"] == 16 and config["decoding"] == taught["decoding"]
    assert config["photos"]["train_images"] > 0 and "valid_exact" in config["teacher_valid"]
    mine, theirs = (torch.load(os.path.join(folder, "model.pt")) for folder in (out, teacher))
    assert mine["lines.rnn.weight_hh_l0"].shape == (64, 16) and theirs["lines.rnn.weight_hh_l0"].shape == (512, 128)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs if not k.startswith(("lines.rnn.", "lines.classify.")))
    assert graphs.READS_UPRIGHT in graphs.record(out)["graphs"]
    entries = open_dataset(EMBEDDED).entries[:6]
    read = {}
    for mode in ("cpu", "onnx-cpu"):
        adapter = adapter_class("adapters.fots:Adapter")()
        adapter.load(mode, {"weights": out})
        assert adapter.model_name.endswith("(LSTM of 16)")
        read[mode] = [[w.text for w in adapter.infer(adapter.preprocess(decode_image(read_bytes(e), e)))]
                      for e in entries]
    assert adapter._backend.reads_upright and read["cpu"] == read["onnx-cpu"]
    from models.fots import distill_head, line_net, reader

    model, _ = reader.load(teacher)  # cut down to all its units, the teacher's LSTM is itself
    whole = line_net.LineRecognizer(model.lines.classify.out_features).eval()
    whole.convs.load_state_dict(model.lines.convs.state_dict())
    rnn, classify = distill_head.pruned(model.lines, 128)
    whole.rnn.load_state_dict(rnn)
    whole.classify.load_state_dict(classify)
    x = torch.rand(2, 1, lines.HEIGHT, 96)
    with torch.no_grad():
        assert torch.allclose(whole(x), model.lines(x), atol=1e-5)
    for args, said in ((["--teacher", os.path.join(REPO, "models", "fots", "weights", "fots-b0")],
                        "not a reader with a line recogniser"), (["--cache", str(tmp_path / "none")],
                                                                "no such line cache")):
        proc = subprocess.run([sys.executable, "-m", "models.fots.distill_head", "--out", str(tmp_path / "no"),
                               "--cache", cache] + args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True)
        assert proc.returncode == 2 and said in proc.stderr and "Traceback" not in proc.stderr


def test_easyocr_fine_tuning_writes_a_network_easyocr_loads_in_every_cpu_mode(cache, tmp_path):
    from adapters.base import join_reading_order
    from bench.worker import adapter_class
    from models.easyocr_codes import finetune

    out = str(tmp_path / "network")
    subprocess.run([sys.executable, "-m", "models.easyocr_codes.finetune", "--cache", cache, "--out", out,
                    "--steps", "2", "--batch", "4", "--valid", "2", "--valid-every", "2", "--log-every", "1"],
                   check=True, cwd=REPO, timeout=600)
    assert sorted(f for f in os.listdir(out) if f.startswith(finetune.NAME)) == \
        [finetune.NAME + ext for ext in (".pth", ".py", ".yaml")]
    state = torch.load(os.path.join(out, finetune.NAME + ".pth"))
    assert all(k.startswith("module.") for k in state)  # as EasyOCR's CPU loader expects
    config = json.loads(open(os.path.join(out, "config.json")).read())
    assert config["steps"] == 2 and config["from"].startswith("english_g2")
    gray = np.full((60, 300), 230, np.uint8)
    import cv2

    cv2.putText(gray, "LOT 12", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 0, 3)
    readings = []
    for mode in ("cpu", "onnx-cpu"):
        adapter = adapter_class("adapters.easyocr:Adapter")()
        adapter.load(mode, {"network": out})
        assert adapter.model_name == "CRAFT + english_g2 fine-tuned on codes (easyocr_codes, 2 steps)"
        assert adapter.model_files()[1] == os.path.realpath(os.path.join(out, finetune.NAME + ".pth"))
        readings.append(join_reading_order(adapter.infer(adapter.preprocess(gray))))
    assert readings[0] and readings[1]  # a reading, through EasyOCR's own pipeline, in both modes
    with pytest.raises(ValueError, match="should hold one custom network"):
        adapter_class("adapters.easyocr:Adapter").check_options({"network": cache})
    # the network as committed, without its checkpoint (another machine): training continues from it
    os.remove(os.path.join(out, "checkpoint.pt"))
    proc = subprocess.run([sys.executable, "-m", "models.easyocr_codes.finetune", "--cache", cache, "--out", out,
                           "--steps", "3", "--batch", "4", "--valid", "2", "--valid-every", "3", "--log-every", "1"],
                          cwd=REPO, timeout=600, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0 and "continuing" in proc.stderr and "(2 steps)" in proc.stderr, proc.stderr[-2000:]
    assert json.loads(open(os.path.join(out, "config.json")).read())["steps"] == 3  # one more step, not three


def test_easyocr_fine_tuning_pads_and_decodes_lines_as_easyocr_reads_them():
    """EasyOCR pads each line of an image to ceil(widest ratio) * 64 px with the line's last
    column and decodes the whole padded width: fine-tuning's batches must be the same, or the
    network never learns to read nothing in the padding (that cost the step-7,800 weights 5.6
    validation points: 62.75% read line by line, 57.1% read as EasyOCR reads)."""
    from easyocr.recognition import AlignCollate
    from PIL import Image

    from models.easyocr_codes import finetune

    rng = np.random.default_rng(0)
    lines_ = [rng.integers(0, 256, (finetune.HEIGHT, w)).astype(np.uint8) for w in (301, 70)]
    widest = -(-max(a.shape[1] for a in lines_) // finetune.HEIGHT) * finetune.HEIGHT  # EasyOCR's get_image_list
    theirs = AlignCollate(imgH=finetune.HEIGHT, imgW=widest, keep_ratio_with_pad=True)(
        [Image.fromarray(a, "L") for a in lines_]).numpy()
    ours, steps = finetune.batch([(a.astype(np.float32) / 255.0 - 0.5) / 0.5 for a in lines_])
    assert ours.shape == theirs.shape == (2, 1, finetune.HEIGHT, 320) and np.abs(ours - theirs).max() < 1e-6
    rec = finetune.EasyOCR()
    with torch.no_grad():
        logits = rec.logits(rec.load().eval(), torch.from_numpy(ours))
    assert list(steps) == [logits.shape[1]] * 2  # every line is decoded over the whole padded width
    assert finetune.batch([ours[1, 0, :, :60]], multiple=32)[0].shape[-1] == 64  # training's shapes: still EasyOCR's


def test_ppocrv6_s_recogniser_converted_to_pytorch_agrees_with_onnx_runtime_and_trains_every_weight(cache):
    import onnxruntime

    from models.ppocrv6_codes import finetune

    rec = finetune.PPOCRv6()
    net = finetune.network().eval()
    sample = synth_lines.LineCache(cache)[0]
    x, steps = rec.batch([rec.line_input(sample.image, sample.box)])
    shipped = onnxruntime.InferenceSession(finetune.source_path(), providers=["CPUExecutionProvider"])
    probs = shipped.run(None, {"x": x})[0]
    chars = ["blank"] + shipped.get_modelmeta().custom_metadata_map["character"].split("\n") + [" "]
    keep = [0] + [chars.index(c) for c in finetune.ALPHABET] + [len(chars) - 1]
    expected = probs[..., keep] / probs[..., keep].sum(-1, keepdims=True)  # the shipped head on our alphabet
    with torch.no_grad():
        ours = torch.softmax(net(torch.from_numpy(x)), -1).numpy()
    assert ours.shape == (1, steps[0], len(rec.chars) + 1) and np.abs(ours - expected).max() < 1e-4
    trainable = sum(p.numel() for p in net.parameters())
    assert trainable > 2_900_000  # the mixer's MatMul weights too, not only the convolutions
    net.train()
    log_probs = torch.log_softmax(net(torch.from_numpy(x)), -1).permute(1, 0, 2)
    loss = torch.nn.functional.ctc_loss(log_probs, torch.tensor(recogniser_finetune.encode(sample.text, rec.chars)),
                                        torch.from_numpy(steps), torch.tensor([len(sample.text)]))
    loss.backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_ppocrv6_fine_tuning_writes_a_recogniser_rapidocr_runs_in_place_of_the_shipped_one(cache, tmp_path):
    from adapters.base import join_reading_order
    from bench.worker import adapter_class
    from models.ppocrv6_codes import finetune

    out = str(tmp_path / "network")
    args = [sys.executable, "-m", "models.ppocrv6_codes.finetune", "--cache", cache, "--out", out, "--batch", "2",
            "--valid", "2", "--log-every", "1"]
    subprocess.run(args + ["--steps", "2", "--valid-every", "2"], check=True, cwd=REPO, timeout=600)
    assert {finetune.NAME + ".onnx", "model.pt", "config.json"} <= set(os.listdir(out))
    model = os.path.join(out, finetune.NAME + ".onnx")
    gray = np.full((60, 300), 230, np.uint8)
    import cv2

    cv2.putText(gray, "LOT 12", (10, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 0, 3)
    adapter = adapter_class("adapters.ppocrv6:Adapter")()
    adapter.load("cpu", {"rec_model": model})
    assert adapter.model_name == "PP-OCRv6 small (det + rec fine-tuned on codes (%s.onnx, 2 steps))" % finetune.NAME
    reading = join_reading_order(adapter.infer(adapter.preprocess(gray)))
    assert reading and set(reading) <= set(finetune.ALPHABET + " ")  # rapidocr decodes with the model's own alphabet
    for bad in (cache, 3):
        with pytest.raises(ValueError, match="rec_model: an ONNX recogniser file"):
            adapter_class("adapters.ppocrv6:Adapter").check_options({"rec_model": bad})
    with pytest.raises(ValueError, match="rec_model: models/none.onnx: no such file"):
        adapter_class("adapters.ppocrv6:Adapter").check_options({"rec_model": "models/none.onnx"})
    import onnx

    bare = onnx.load(model)
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    with pytest.raises(ValueError, match="bare.onnx has no character list in its metadata"):
        adapter_class("adapters.ppocrv6:Adapter")().load("cpu", {"rec_model": str(tmp_path / "bare.onnx")})
    os.remove(os.path.join(out, "checkpoint.pt"))  # as committed: training continues from model.pt
    proc = subprocess.run(args + ["--steps", "3", "--valid-every", "3"], cwd=REPO, timeout=600,
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0 and "continuing" in proc.stderr and "(2 steps)" in proc.stderr, proc.stderr[-2000:]
    assert json.loads(open(os.path.join(out, "config.json")).read())["steps"] == 3


def test_the_training_cost_benchmark_records_line_crops_and_canvases_per_second(tmp_path):
    record = str(tmp_path / "training.jsonl")
    subprocess.run([sys.executable, "-m", "models.fots.throughput", "--steps", "2", "--codes", "20", "--batch", "8", "16",
                    "--canvas-batch", "2", "--record", record], check=True, cwd=REPO, timeout=600)
    rows = [json.loads(line) for line in open(record)]
    lines_rows = [r for r in rows if r["what"] == "line recogniser training step"]
    assert [(r["batch"], r["bf16"]) for r in lines_rows] == [(8, False), (8, True), (16, False), (16, True)]
    assert all(r["lines_per_s"] > 0 for r in lines_rows)
    assert any(r["what"] == "joint FOTS-B0 training step" and r["canvases_per_s"] > 0 for r in rows)
    assert {r.get("styles") for r in rows if r["what"] == "rendering lines for the cache"} == {0.0, 1.0}
    assert all(r["cpu"] and r["threads"] >= 1 for r in rows)


def test_the_character_classifier_trains_through_the_same_loop(tmp_path):
    out = str(tmp_path / "charcls")
    subprocess.run([sys.executable, "-m", "models.charcls.train", "--frames", "6", "--epochs", "2", "--valid", "2",
                    "--workers", "1", "--out", out], check=True, cwd=REPO, timeout=600)
    config = json.loads(open(os.path.join(out, "config.json")).read())
    assert config["steps"] >= 2 and config["vocab"] and config["cells"] > 0 and "valid_exact" in config["validation"]
    from models.charcls import net

    net.load_classifier(out, "cpu")


def test_the_photo_like_check_set_is_tight_binarised_lines_the_harness_reads(tmp_path):
    from bench.dataset import decode, open_dataset, read_bytes
    from synth import photolike

    manifest = photolike.write(str(tmp_path / "photolike"), 12)
    dataset = open_dataset(manifest)
    assert len(dataset.entries) == 12 and all(e.text.strip() for e in dataset.entries)
    for entry in dataset.entries:
        image = decode(read_bytes(entry), entry)
        assert set(np.unique(image)) <= {0, 255} and image.shape[0] <= 2 * synth_lines.STORE_HEIGHT + 10
    assert photolike.write(str(tmp_path / "again"), 12) and \
        open(manifest).read() == open(str(tmp_path / "again" / "manifest.csv")).read()
