"""Our FOTS-style model: shapes, gradients, decoding, targets, the committed weights."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from adapters import onnx_runtime
from adapters.base import join_reading_order
from bench import metrics
from bench.config import REPO
from models.fots import data, decode, reader
from models.fots.net import BLANK, FOTS, ROI_SIZE, VOCAB, encode
from models.fots.train import collate, detection_loss, recognition_loss


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FOTS("b0", width=32, hidden=32)


def test_every_branch_has_the_right_shape_and_learns(model):
    images = torch.rand(2, 1, 64, 128)
    rois = torch.tensor([[0, 4.0, 8.0, 100.0, 30.0], [1, 10.0, 20.0, 60.0, 40.0], [1, 0.0, 0.0, 128.0, 64.0]])
    out = model(images, rois)
    assert out["score"].shape == (2, 1, 16, 32) and out["geometry"].shape == (2, 4, 16, 32)
    assert out["rec"].shape == (ROI_SIZE[1], 3, len(VOCAB) + 1)
    assert bool((out["geometry"] > 0).all())
    assert torch.allclose(out["rec"].exp().sum(-1), torch.ones(ROI_SIZE[1], 3), atol=1e-4)

    score_t = torch.zeros(2, 1, 16, 32)
    score_t[:, :, 4:8, 2:20] = 1
    geometry_t = torch.full((2, 4, 16, 32), 8.0)
    labels = torch.tensor(encode("LOT 1") + encode("EXP:08") + encode("A"))
    loss = detection_loss(out["score"], out["geometry"], score_t, geometry_t) + \
        recognition_loss(out["rec"], labels, torch.tensor([5, 6, 1]))
    model.zero_grad()
    loss.backward()
    for part in (model.stages, model.lateral, model.det, model.rec_convs, model.rnn, model.classify):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters()), part


def test_ctc_greedy_collapses_repeats_and_drops_blanks():
    a, b = VOCAB.index("A") + 1, VOCAB.index("7") + 1
    path = [BLANK, a, a, BLANK, a, b, b, BLANK]
    logits = np.full((len(path), 1, len(VOCAB) + 1), -10.0)
    logits[np.arange(len(path)), 0, path] = 0.0
    (text, conf), = decode.ctc_greedy(logits)
    assert text == "AA7" and conf == pytest.approx(1.0, abs=1e-3)


def test_box_decoding_on_a_hand_made_score_map():
    true = [(8.0, 20.0, 200.0, 50.0), (40.0, 70.0, 300.0, 90.0)]  # x0 y0 x1 y1 on the canvas
    score, geometry = data.targets(true)
    score *= 0.9
    found = decode.boxes(score[0], geometry)
    assert len(found) == 2 and found[0][1] == pytest.approx(0.9)
    for (box, _), expected in zip(sorted(found, key=lambda f: f[0][1]), true):
        assert box[1] == pytest.approx(expected[1]) and box[3] == pytest.approx(expected[3])  # voted
        assert abs(box[0] - expected[0]) <= 2 and abs(box[2] - expected[2]) <= 2  # extent: half a cell
    assert decode.boxes(np.zeros_like(score[0]), geometry) == []


def test_a_readers_decoding_joins_the_pieces_of_a_split_line_and_grows_its_boxes():
    line = (16.0, 20.0, 400.0, 52.0)  # 32 px high
    score, geometry = data.targets([line])
    score *= 0.9
    score[0, :, 40:48] = 0.0  # the map split at x 160-192: boxes (grown by the shrink) 0.6 heights apart
    pieces = decode.boxes(score[0], geometry)
    assert len(pieces) == 2
    (whole, conf), = decode.boxes(score[0], geometry, decode.Decoding(join=0.8))
    assert conf == pytest.approx(0.9) and whole[0] == min(b[0] for b, _ in pieces)
    assert whole[2] == max(b[2] for b, _ in pieces)
    assert len(decode.boxes(score[0], geometry, decode.Decoding(join=0.3))) == 2  # too far apart for 0.3 heights
    (grown, _), = decode.boxes(score[0], geometry, decode.Decoding(join=0.8, widen=0.25, taller=0.05))
    height = whole[3] - whole[1]
    assert grown == pytest.approx((whole[0] - 0.25 * height, whole[1] - 0.05 * height,
                                   whole[2] + 0.25 * height, whole[3] + 0.05 * height))
    assert decode.boxes(score[0], geometry, decode.Decoding(threshold=0.95)) == []
    below = (16.0, 70.0, 150.0, 100.0)  # a line under the first piece: another row, never joined
    assert len(decode.joined([(pieces[0][0], 0.9), (below, 0.8)], 5.0)) == 2


def test_overlapping_boxes_and_fragments_of_a_line_are_suppressed():
    assert decode.iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    line, below = (0.0, 10.0, 300.0, 40.0), (0.0, 44.0, 200.0, 70.0)  # two lines of a code, 4 px apart
    fragment = (50.0, 20.0, 80.0, 55.0)  # a few characters split off, more than half inside the line
    tilted = (0.0, 30.0, 280.0, 62.0)  # a tilted neighbour's box: a third of it over the line's
    found = decode.suppress([(fragment, 0.9), (line, 0.8), (below, 0.7)])
    assert found == [(line, 0.8), (below, 0.7)]  # the fragment goes, though more confident
    assert decode.suppress([(line, 0.8), (tilted, 0.7)]) == [(line, 0.8), (tilted, 0.7)]
    assert decode.suppress([(fragment, 0.9), (line, 0.8)], inside=1.0) == [(fragment, 0.9), (line, 0.8)]


def test_targets_mark_the_shrunk_line_and_distances():
    score, geometry = data.targets([(8.0, 8.0, 48.0, 28.0)])
    rows, cols = np.nonzero(score[0])
    assert rows.min() == 3 and rows.max() == 5  # centres 14, 18, 22 lie within 8+4 .. 28-4
    assert cols.min() == 3 and cols.max() == 10
    assert tuple(geometry[:, 3, 3]) == (6.0, 14.0, 6.0, 34.0)


def test_training_batches_are_deterministic_and_never_use_benchmark_frames():
    first = data.training_sample(data.TRAIN_START)
    again = data.training_sample(data.TRAIN_START)
    assert np.array_equal(first.image, again.image) and first.texts == again.texts
    assert first.image.shape == (data.CANVAS_H, data.CANVAS_W)
    assert data.TRAIN_START >= 200 and data.VALID_START >= 200
    images, scores, geometry, rois, labels, lengths = collate([
        (first.image[None],) + data.targets(first.boxes) + (first.boxes, first.texts)])
    assert rois.shape == (len(first.texts), 5) and int(lengths.sum()) == len(labels)


def test_random_lines_replace_the_code_with_characters_in_no_grammar():
    coded = [data.training_sample(data.TRAIN_START + i, random_lines=0.0).texts for i in range(20)]
    assert coded == [data.training_sample(data.TRAIN_START + i).texts for i in range(20)]
    texts = [data.training_sample(data.TRAIN_START + i, random_lines=1.0).texts for i in range(20)]
    assert texts == [data.training_sample(data.TRAIN_START + i, random_lines=1.0).texts for i in range(20)]
    assert all(len(t) == 1 and 6 <= len(t[0]) <= 40 and set(t[0]) <= set(VOCAB) - {" "} for t in texts)
    assert not any(t[0].startswith(("PRO:", "LOT", "EXP", "BB", "MFG", "SN")) for t in texts)
    half = [data.training_sample(data.TRAIN_START + i, random_lines=0.5).texts for i in range(40)]
    assert 5 < sum(h != c for h, c in zip(half, coded + [data.training_sample(data.TRAIN_START + i).texts
                                                         for i in range(20, 40)])) < 35


@pytest.mark.parametrize("kind", ["features", "pixels", "both"])
def test_onnx_export_round_trip_matches_pytorch(kind, tmp_path):
    """Each recogniser's graphs against PyTorch, on lines of another count and width than
    the export's: the line recognisers' steps follow the width (one per 4 columns)."""
    from models.fots import lines
    from models.fots.export import export

    torch.manual_seed(0)
    model = FOTS("b0", width=32, hidden=32, recognizer=kind).eval()
    backends = (reader.TorchBackend(model), reader.OnnxBackend(*(onnx_runtime.session(p, "onnx-cpu") for p in export(model, str(tmp_path)))))
    assert backends[1].kind == kind
    for shape in ((64, 256), (96, 512)):  # fitted canvases (data.for_reading), then the full one
        canvas = np.random.default_rng(0).random((2, 1) + shape).astype(np.float32)
        (score_t, geo_t, _), (score_o, geo_o, _) = (b.detect(canvas) for b in backends)
        assert score_o.shape == (2, 1, shape[0] // 4, shape[1] // 4)
        assert np.abs(score_t - score_o).max() < 1e-4 and np.abs(geo_t - geo_o).max() < 1e-3
    canvas = np.random.default_rng(0).random((1, 1, data.CANVAS_H, data.CANVAS_W)).astype(np.float32)
    (score_t, geo_t, feats_t), (score_o, geo_o, feats_o) = (b.detect(canvas) for b in backends)
    assert np.abs(score_t - score_o).max() < 1e-4 and np.abs(geo_t - geo_o).max() < 1e-3
    rois = np.array([[0, 4, 8, 200, 30], [0, 10, 40, 300, 70], [0, 1, 1, 50, 20]], np.float32)  # 3 lines
    pixels = np.random.default_rng(1).random((3, 1, lines.HEIGHT, 408)).astype(np.float32)
    rec_t, rec_o = backends[0].recognize(feats_t, rois, pixels), backends[1].recognize(feats_o, rois, pixels)
    steps = ROI_SIZE[1] if kind == "features" else 408 // lines.STEP
    assert rec_o.shape == (steps, 3, len(VOCAB) + 1) and np.abs(rec_t - rec_o).max() < 1e-3


WEIGHTS = os.path.join(reader.WEIGHTS, "model.pt")


@pytest.mark.skipif(not os.path.isfile(WEIGHTS), reason="no committed weights")
def test_committed_weights_load_and_read_embedded_frames_in_pytorch_and_onnx():
    from bench.dataset import decode as decode_image, open_dataset, read_bytes
    from bench.worker import adapter_class
    from tests.conftest import EMBEDDED

    net, config = reader.load()
    assert config["backbone"] == "b0" and config["steps"] > 0 and "command" in config
    assert config["recognizer"] == "pixels" and config["detector_steps"] > 0
    assert os.path.getsize(WEIGHTS) < 25 * 2 ** 20
    adapter = adapter_class("adapters.fots:Adapter")()
    adapter.load("onnx-cpu", {})  # the graphs shipped in the weights folder
    onnx_backend = reader.OnnxBackend(*(onnx_runtime.session(p, "onnx-cpu") for p in adapter.model_files()))
    torch_backend = reader.TorchBackend(net)
    for entry in open_dataset(EMBEDDED).entries[:3]:
        canvas = adapter.preprocess(decode_image(read_bytes(entry), entry))
        images = canvas.image[None, None].astype(np.float32)
        (score_t, _, feats_t), (score_o, _, feats_o) = torch_backend.detect(images), onnx_backend.detect(images)
        assert np.abs(score_t - score_o).max() < 1e-3
        found = [[((4.0, 4.0, data.CANVAS_W / 2, data.CANVAS_H / 4), 1.0)]]
        pixels, _ = reader.line_pixels([canvas], found)
        rois = np.array([[0, 4.0, 4.0, data.CANVAS_W / 2, data.CANVAS_H / 4]], np.float32)
        assert np.abs(torch_backend.recognize(feats_t, rois, pixels) -
                      onnx_backend.recognize(feats_o, rois, pixels)).max() < 1e-2
        assert all(set(w.text) <= set(VOCAB) for w in adapter.infer(canvas))
    # reads the first 20 embedded crops as well as when committed (line recogniser, 28,000
    # steps: 19 of 20 exact, CER 0.5%), with a margin of two frames for other CPUs' arithmetic
    counts = []
    for entry in open_dataset(EMBEDDED).entries[:20]:
        words = adapter.infer(adapter.preprocess(decode_image(read_bytes(entry), entry)))
        counts.append(metrics.counts(metrics.normalize(join_reading_order(words)), metrics.normalize(entry.text)))
    scores = metrics.corpus(counts)
    assert scores["strict_acc"] >= 0.85 and scores["cer"] <= 0.02, scores


@pytest.mark.skipif(not os.path.isfile(WEIGHTS), reason="no committed weights")
def test_int8_calibration_writes_a_table_per_graph_from_real_frames(tmp_path):
    """What ``trt-int8`` does before TensorRT builds, run here with CPU sessions in place of
    TensorRT ones: ranges from real frames, one table per graph, in folders named by it."""
    from onnxruntime.quantization.CalTableFlatBuffers.TrtTable import TrtTable

    from bench.dataset import decode as decode_image, open_dataset, read_bytes
    from bench.worker import adapter_class
    from tests.conftest import EMBEDDED

    adapter = adapter_class("adapters.fots:Adapter")()
    adapter.load("onnx-cpu", {})
    frames = [decode_image(read_bytes(e), e) for e in open_dataset(EMBEDDED).entries[:4]]
    expected = [adapter.infer(adapter.preprocess(f)) for f in frames]
    adapter._backend, adapter._engines = None, str(tmp_path)  # as load leaves trt-int8
    with pytest.raises(RuntimeError, match="calibration count is 0"):
        adapter.calibrate([])
    adapter.calibrate(frames)
    # the recogniser's folder is named by its graph: the one that also tells the way up
    assert [os.path.basename(p) for p in adapter._files] == ["detector.onnx", "recognizer-upright.onnx"]
    for graph, inputs in (("detector", {"images"}), ("recognizer-upright", {"lines"})):
        (folder,) = os.listdir(str(tmp_path / graph))
        with open(str(tmp_path / graph / folder / onnx_runtime.CALIBRATION_TABLE), "rb") as f:
            table = TrtTable.GetRootAsTrtTable(f.read(), 0)
        ranges = {table.Dict(i).Key().decode(): float(table.Dict(i).Value()) for i in range(table.DictLength())}
        assert inputs <= set(ranges) and len(ranges) > 20, graph
        assert all(r > 0 for r in ranges.values()), graph
    assert 0.9 < ranges["lines"] <= 1.0  # the lines' pixels, contrast stretched to [0, 1]
    assert ranges["log_probs"] > 1  # never positive, yet not a zero range: magnitudes are kept
    assert adapter.versions()["int8-calibration"] == "MinMax, 4 images, 4 with lines"
    assert [adapter.infer(adapter.preprocess(f)) for f in frames] == expected


def test_backbone_suite_names_each_committed_backbone_by_its_weights():
    """`make bench SUITE=bench/suites/fots-backbones.yaml` measures the committed weights of
    each backbone; every folder it names holds weights of the backbone in its engine name."""
    from bench import config as cfg

    suite = cfg.build(cfg.read_suite(os.path.join(cfg.REPO, "bench", "suites", "fots-backbones.yaml")), {})
    cfg.check(suite)
    for engine, spec in suite["engines"].items():
        folder = os.path.join(cfg.REPO, spec["options"]["weights"])
        with open(os.path.join(folder, "config.json")) as f:
            assert json.load(f)["backbone"] == engine.split("-")[1], engine
        assert 0 < os.path.getsize(os.path.join(folder, "model.pt")) < 25 * 2 ** 20
    assert {"fots-b0", "fots-b3"} <= set(suite["engines"])


def test_joint_training_saves_fp16_weights_and_resumes_from_its_checkpoint(tmp_path):
    """The detector's joint training (`python -m models.fots.train`) through the shared loop,
    in bfloat16: two steps, then a resumed third that continues the step count and the
    training indices, its log and its config."""
    def train(steps: int) -> None:
        subprocess.run([sys.executable, "-m", "models.fots.train", "--out", str(tmp_path), "--resume", "--bf16",
                        "--steps", str(steps), "--batch", "2", "--width", "16", "--hidden", "16", "--workers", "1",
                        "--save-every", "2", "--log-every", "1", "--valid", "2"], check=True, cwd=REPO, timeout=600)

    train(2)
    train(3)
    log = [json.loads(line) for line in open(tmp_path / "train.log")]
    steps = [entry for entry in log if "loss" in entry]
    assert [entry["step"] for entry in steps] == [1, 2, 3]
    assert all(np.isfinite(entry["det_loss"]) and np.isfinite(entry["rec_loss"]) for entry in steps)
    checks = [entry for entry in log if "valid_exact" in entry]
    assert [entry["step"] for entry in checks] == [2, 3] and checks[0]["valid_n"] == 2
    assert [entry["start"] for entry in log if "start" in entry] == [0, 2]  # the second run resumed at step 2
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["steps"] == 3 and config["samples_seen"] == 3 * 2 and config["train_start"] == data.TRAIN_START
    assert "--bf16" in config["command"] and config["schedule"]["bf16"] and config["width"] == 16
    state = torch.load(tmp_path / "model.pt")
    assert {v.dtype for v in state.values() if v.is_floating_point()} == {torch.float16}
    loaded, _ = reader.load(str(tmp_path))
    assert loaded.lateral[0].out_channels == 16


def test_evaluation_reads_validation_frames_with_detected_and_with_true_boxes(capsys):
    """`python -m models.fots.evaluate`: one line per group of codes, the groups adding up,
    and its end-to-end figure the same as training's validation on the same frames."""
    from models.fots import evaluate

    evaluate.main(["--frames", "4"])
    rows = {row["codes"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(rows) == {"PRO/EXP", "other", "all"}
    assert rows["PRO/EXP"]["frames"] + rows["other"]["frames"] == rows["all"]["frames"] == 4
    model, _ = reader.load()
    assert evaluate.validate(model, "cpu", 4)["valid_exact"] == rows["all"]["exact"]
    sample = data.training_sample(data.VALID_START)
    _, read = evaluate.read_sample(reader.TorchBackend(model), sample)
    assert metrics.sample_cer(metrics.counts(read, evaluate.truth(sample))) < 0.1


@pytest.mark.skipif(not os.path.isfile(WEIGHTS), reason="no committed weights")
@pytest.mark.parametrize("mode", ["cpu", "onnx-cpu"])
def test_a_batch_reads_what_each_image_reads_alone(mode):
    """The offline and multi-stream scenarios' path: 6 crops of different sizes through each
    graph at once, the same boxes as one at a time, and the same words but for a borderline
    character now and then: a line padded to its batch's widest reaches the backward LSTM."""
    from bench.dataset import decode as decode_image, open_dataset, read_bytes
    from bench.worker import adapter_class
    from tests.conftest import EMBEDDED

    adapter = adapter_class("adapters.fots:Adapter")()
    adapter.load(mode, {})
    assert adapter.batches
    canvases = [adapter.preprocess(decode_image(read_bytes(e), e)) for e in open_dataset(EMBEDDED).entries[:6]]
    alone = [adapter.infer(c) for c in canvases]
    together = adapter.infer_batch(canvases)
    pairs = [(b, a) for ws_b, ws_a in zip(together, alone) for b, a in zip(ws_b, ws_a)]
    assert [len(ws) for ws in together] == [len(ws) for ws in alone] and len(pairs) >= 6
    assert all(np.allclose(b.box, a.box, atol=0.5) for b, a in pairs)
    assert sum(b.text != a.text for b, a in pairs) <= 1
    assert all(metrics.counts(b.text, a.text).edits <= 1 for b, a in pairs)
    assert all(abs(b.score - a.score) < 1e-2 for b, a in pairs if b.text == a.text)


def test_gpu_fp16_without_cuda_is_skipped_with_the_reason():
    import torch

    from adapters.base import ModeUnavailable
    from bench.worker import adapter_class

    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the mode runs")
    with pytest.raises(ModeUnavailable, match="no CUDA device"):
        adapter_class("adapters.fots:Adapter")().load("gpu-fp16", {})


@pytest.mark.skipif(not os.path.isfile(WEIGHTS), reason="no committed weights")
def test_a_line_crop_cut_at_its_print_is_read_with_a_margin_and_its_box_stays_in_its_pixels():
    """A code cut at its box (as the harness crops the embedded set, and users their photos):
    the reader reads it with a margin of its grey around it (``data.for_reading``) and reports
    the box in the crop's own pixels; a whole frame (not twice as wide as high) gets none."""
    from bench.dataset import decode as decode_image, open_dataset, read_bytes
    from bench.worker import adapter_class
    from tests.conftest import EMBEDDED

    entry = open_dataset(EMBEDDED).entries[2]
    frame = decode_image(read_bytes(entry), entry, crop=False)
    assert data.for_reading(frame).pad == 0
    crop = decode_image(read_bytes(entry), entry)
    h, w = crop.shape
    canvas = data.for_reading(crop)
    assert canvas.pad == round(data.LINE_MARGIN * h) > 0
    assert canvas.source.shape == (h + 2 * canvas.pad, w + 2 * canvas.pad)
    adapter = adapter_class("adapters.fots:Adapter")()
    adapter.load("cpu", {})
    words = adapter.infer(adapter.preprocess(crop))
    assert metrics.normalize(" ".join(wd.text for wd in words)) == metrics.normalize(entry.text)
    x0, y0, x1, y1 = words[0].box
    assert -3 <= x0 < x1 <= w + 3 and -3 <= y0 < y1 <= h + 3 and x1 - x0 > 0.8 * w


def test_a_canvas_for_reading_is_cut_down_to_its_image_and_batches_extend_it_with_its_grey():
    """A single line does not pay the detector for the full canvas: the canvas ends a margin
    of grey past the image, in multiples of 32; TensorRT's engines get the full canvas."""
    rng = np.random.default_rng(3)
    line = rng.integers(0, 255, (30, 500), dtype=np.uint8)  # 500 x 30: 40 rows with its margin, at scale 1
    canvas = data.for_reading(line)
    rows = canvas.offset[1] + round((30 + 2 * canvas.pad) * canvas.scale)
    assert canvas.image.shape == (64, 512) and rows + data.FIT_MARGIN <= 64
    assert np.all(canvas.image[int(rows):] == np.float32(canvas.fill))
    assert data.for_reading(line, fit=False).image.shape == (data.CANVAS_H, data.CANVAS_W)
    block = data.for_reading(rng.integers(0, 255, (200, 150), dtype=np.uint8))  # taller than wide: 128 x 96 + margin
    assert block.image.shape == (128, 128)
    images = data.stacked([canvas, block])
    assert images.shape == (2, 1, 128, 512)
    assert np.array_equal(images[0, 0, :64], canvas.image) and np.all(images[0, 0, 64:] == np.float32(canvas.fill))
    assert np.array_equal(images[1, 0, :, :128], block.image) and np.all(images[1, 0, :, 128:] == np.float32(block.fill))


def test_grey_order_statistics_from_histograms_are_numpys():
    from models.fots import grey

    rng = np.random.default_rng(7)
    for _ in range(300):
        image = rng.integers(0, 256, (int(rng.integers(1, 60)), int(rng.integers(1, 400))), dtype=np.uint8)
        image = image[:, ::2] if image.shape[1] > 1 and rng.random() < 0.3 else image  # a view, not contiguous
        assert grey.median(image) == float(np.median(image))
        assert grey.percentiles(image, (2, 98)) == pytest.approx(list(np.percentile(image, (2, 98))), abs=1e-9)
    assert grey.median(np.full((3, 3), 9, np.uint8)) == 9.0
    assert grey.median(np.array([0.5, 0.25], np.float32)) == pytest.approx(0.375)  # other types: numpy's own
