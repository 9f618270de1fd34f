"""Line spans: a detector's boxes on a tight crop made into whole lines (adapters/line_spans.py),
and EasyOCR reading them (option ``line_spans``) with its real detector and recogniser."""
import csv
import os

import pytest

from adapters.base import join_reading_order
from adapters.line_spans import line_spans, to_edges
from bench import metrics
from bench.worker import adapter_class
from tests.conftest import EMBEDDED, REPO


def test_a_line_near_the_crop_edges_reaches_them_and_its_gaps_close():
    # one line of three boxes, 21 px high, ending 15 px from the left and 30 px from the right
    boxes = [[15, 60, 5, 25], [150, 240, 6, 25], [90, 120, 4, 24]]
    assert line_spans(boxes, 270, 30, reach=1.0) == [[0, 240, 4, 25]]
    assert line_spans(boxes, 270, 30, reach=2.0) == [[0, 270, 4, 25]]
    assert line_spans(boxes, 270, 30, reach=0.0) == [[15, 240, 4, 25]]


def test_a_strip_too_narrow_for_a_glyph_is_left_out():
    # 5 px on the left, under half the 20 px line height: widening would only change the margin
    assert line_spans([[5, 100, 0, 20]], 112, 20, reach=1.0) == [[5, 112, 0, 20]]


def test_a_short_line_in_a_block_keeps_its_ends_and_lines_come_top_to_bottom():
    block = [[12, 290, 40, 60], [100, 200, 2, 22]]  # a long line below a short centred one
    assert line_spans(block, 302, 62, reach=1.0) == [[100, 200, 2, 22], [0, 302, 40, 60]]


def test_a_crop_where_nothing_was_found_is_read_whole():
    assert line_spans([], 123, 24, reach=1.0) == [[0, 123, 0, 24]]


def test_boxes_reaching_past_the_crop_are_clipped_to_it():
    assert line_spans([[-3, 65, -2, 26]], 60, 24, reach=0.5) == [[0, 60, 0, 24]]


def test_the_second_reading_reaches_each_edge_that_leaves_room_for_a_glyph():
    assert to_edges([40, 200, 0, 20], 300) == [0, 300, 0, 20]
    assert to_edges([5, 200, 0, 20], 300) == [5, 300, 0, 20]  # 5 px: no glyph fits
    assert to_edges([0, 295, 0, 20], 300) == [0, 295, 0, 20]  # nothing to widen: no second reading


@pytest.fixture(scope="module")
def suite_options():
    import yaml

    with open(os.path.join(REPO, "bench", "suites", "default.yaml")) as f:
        return yaml.safe_load(f)["engines"]["easyocr-codes-tuned"]["options"]


def crops(*indices):
    import cv2

    with open(os.path.join(EMBEDDED, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    for row in (rows[i] for i in indices):
        gray = cv2.imread(os.path.join(EMBEDDED, row["image"]), cv2.IMREAD_GRAYSCALE)
        x, y, w, h = (int(row[k]) for k in "xywh")
        yield gray[y:y + h, x:x + w], row["text"]


def test_easyocr_reads_the_glyph_its_detector_drops_at_a_line_end(suite_options):
    """Embedded crops 117 and 148: CRAFT's box stops short of the last glyph of a line, a
    `Y` and a thin `1`, so EasyOCR's readtext never reads it; read as spans, the line is
    whole. Detection and recognition are timed apart."""
    samples = list(crops(117, 148))
    adapter = adapter_class("adapters.easyocr:Adapter")()
    adapter.load("cpu", dict(suite_options, line_spans=None))
    plain = [metrics.normalize(join_reading_order(adapter.infer(c))) for c, _ in samples]
    adapter.load("cpu", dict(suite_options, line_spans=1.0))
    spans = [metrics.normalize(join_reading_order(adapter.infer(c))) for c, _ in samples]
    truth = [metrics.normalize(t) for _, t in samples]
    assert all(p == t[:-1] for p, t in zip(plain, truth)), plain
    assert spans == truth
    assert adapter.stage_ms["det"] > 0 and adapter.stage_ms["rec"] > 0


def test_easyocr_keeps_the_reading_to_the_edge_where_it_is_surer_of_it(suite_options):
    """Embedded crop 98, `L7071 00:53`: CRAFT's box ends at `00`, the strip left is more than
    a line height wide, so the span alone reads `L7071 00`; read again to the edge, the
    recogniser is surer of `L7071 00:53` and that reading is kept."""
    (crop, text), = crops(98)
    adapter = adapter_class("adapters.easyocr:Adapter")()
    adapter.load("cpu", dict(suite_options, line_spans=1.0))
    boxes, _ = adapter._reader.detect(crop[..., None].repeat(3, axis=2), reformat=False, **suite_options["readtext"])
    span, = line_spans(boxes[0], crop.shape[1], crop.shape[0], 1.0)
    assert to_edges(span, crop.shape[1]) != span
    assert [t for _, t, _ in adapter._reader.recognize(crop, [span], [], reformat=False)] == ["L7071 00"]
    assert metrics.normalize(join_reading_order(adapter.infer(crop))) == metrics.normalize(text)


@pytest.mark.parametrize("reach", ["wide", -1, True])
def test_a_line_spans_setting_that_is_not_a_reach_is_refused_by_name(reach):
    with pytest.raises(ValueError, match="line_spans: how many line heights"):
        adapter_class("adapters.easyocr:Adapter").check_options({"line_spans": reach})
