"""Lines at any angle: real photographs of use-by dates (datasets/real-useby/test) turned by
known angles, both ways up, found turned back by the angle finder and read by the reader in
PyTorch and ONNX Runtime, with and without the grammar."""
import os

import cv2
import numpy as np
import pytest

from bench import metrics
from bench.config import REPO
from bench.dataset import decode as decode_image, open_dataset, read_bytes
from models.fots import data, orient, upright

REAL = os.path.join(REPO, "datasets", "real-useby", "test")
PHOTOS = (0, 37, 74)  # three packs' dates


def _region(k: int):
    entry = open_dataset(REAL).entries[k]
    return decode_image(read_bytes(entry), entry, grayscale=True), entry.text


def _upright(k: int) -> np.ndarray:
    gray, _ = _region(k)
    return orient.turned(gray, orient.text_angle(gray))[0]


def _difference(a: float, b: float) -> float:
    """Degrees between two line directions (a line at a and at a + 180 run the same way)."""
    return abs((a - b + 90.0) % 180.0 - 90.0)


@pytest.mark.parametrize("turn", [-90, -60, -35, -12, 0, 20, 45, 75])
def test_the_angle_of_real_photographs_turned_by_known_angles_is_found(turn):
    for k in PHOTOS:
        image = orient.turned(_upright(k), turn)[0]
        assert _difference(orient.text_angle(image), -turn) <= 3.0, (k, turn, orient.text_angle(image))


def test_a_box_on_the_turned_image_maps_back_around_the_same_pixels():
    bar = np.full((60, 200), 200, np.uint8)
    cv2.rectangle(bar, (40, 20), (160, 40), 0, -1)
    photo, _ = orient.turned(bar, -30.0)  # a bar 30 degrees off horizontal
    ys, xs = np.nonzero(photo < 100)
    hull = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    level, matrix = orient.turned(photo, orient.text_angle(photo))
    ys, xs = np.nonzero(level < 100)
    box = orient.to_source((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), matrix)
    assert all(abs(a - b) <= 3 for a, b in zip(box, hull)), (box, hull)
    assert data.for_reading(bar, True, 0.5).turn is None  # within MIN_TURN: read as it is


@pytest.mark.skipif(not os.path.isfile(os.path.join(upright.WEIGHTS, "model.pt")), reason="no upright weights")
@pytest.mark.parametrize("mode,grammar", [("cpu", None), ("onnx-cpu", None), ("onnx-cpu", "run")])
def test_the_reader_reads_real_dates_turned_both_ways_up(mode, grammar):
    from bench.worker import adapter_class

    adapter = adapter_class("adapters.fots:Adapter")()
    options = {"grammar": os.path.join(REPO, "datasets", "real-useby", "grammar.txt")} if grammar else {}
    adapter.load(mode, options)
    read, seen = 0, 0
    for k in PHOTOS:
        _, date = _region(k)
        for turn in (-80, -30, 25, 60, 180, 150):
            image = orient.turned(_upright(k), turn)[0]
            reading = " ".join(w.text for w in adapter.infer(adapter.preprocess(image)))
            read += metrics.normalize(date) in metrics.normalize(reading)
            seen += 1
    assert read >= seen - 1, (read, seen)
