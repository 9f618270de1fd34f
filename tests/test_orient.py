"""Lines at any angle: real photographs of use-by dates (datasets/real-useby/test) turned by
known angles, both ways up, found turned back by the angle finder and read by the reader in
PyTorch and ONNX Runtime, with and without the grammar."""
import os
from typing import Optional

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


EMBEDDED = os.path.join(REPO, "datasets", "synth-codes")


def _rotated(gray: np.ndarray, degrees: float, fill: Optional[int]) -> np.ndarray:
    """``gray`` turned as an image editor turns a picture: on a canvas that holds all of it,
    the corners in a plain ``fill`` (None: its edges repeated outward)."""
    h, w = gray.shape
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    size = (int(np.ceil(h * sin + w * cos)), int(np.ceil(h * cos + w * sin)))
    matrix[:, 2] += (size[0] - w) / 2.0, (size[1] - h) / 2.0
    if fill is None:
        return cv2.warpAffine(gray, matrix, size, borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(gray, matrix, size, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def test_a_crop_turned_on_a_plain_fill_or_its_own_streaks_is_cut_out_again_and_a_photograph_is_not():
    entry = open_dataset(EMBEDDED).entries[3]  # 472 x 37: turned by 30 degrees, 428 x 269
    crop = decode_image(read_bytes(entry), entry)
    for fill in (255, 0, int(np.median(crop))):
        image = _rotated(crop, 30.0, fill)
        canvas = data.for_reading(image, True, orient.text_angle(image))
        level = canvas.source[canvas.pad:canvas.source.shape[0] - canvas.pad,
                              canvas.pad:canvas.source.shape[1] - canvas.pad]
        assert abs(level.shape[0] - crop.shape[0]) <= 6 and abs(level.shape[1] - crop.shape[1]) <= 8, \
            (fill, level.shape, crop.shape)
        box = orient.to_source((0, 0, level.shape[1], level.shape[0]), canvas.turn)  # the cut, in the image
        assert box[0] >= -4 and box[1] >= -4 and box[2] <= image.shape[1] + 4 and box[3] <= image.shape[0] + 4, box
    entry = open_dataset(EMBEDDED).entries[11]  # 636 x 26, on its own edges repeated outward
    crop = decode_image(read_bytes(entry), entry)
    for degrees in (30.0, -45.0):
        image = _rotated(crop, degrees, None)
        canvas = data.for_reading(image, True, orient.text_angle(image))
        level = canvas.source[canvas.pad:canvas.source.shape[0] - canvas.pad,
                              canvas.pad:canvas.source.shape[1] - canvas.pad]
        assert abs(level.shape[0] - crop.shape[0]) <= 6 and abs(level.shape[1] - crop.shape[1]) <= 8, \
            (degrees, level.shape, crop.shape)
    photo, _ = _region(PHOTOS[0])  # edges all round: turned, and kept whole
    assert orient.plain_fill(photo) is None
    canvas = data.for_reading(photo, True, 20.0)
    assert canvas.source.shape == orient.turned(photo, 20.0)[0].shape


def test_lines_of_a_code_turned_upside_down_or_on_a_fill_are_read_in_order():
    """The harness orders words by their boxes in the image, which for a code turned over
    runs backwards: the reader gives its lines in their own reading order."""
    from adapters.base import join_reading_order
    from bench.worker import adapter_class

    adapter = adapter_class("adapters.fots:Adapter")()
    adapter.load("onnx-cpu", {"weights": os.path.join("models", "fots", "weights", "fots-lite")})
    entries = open_dataset(EMBEDDED).entries[:12]
    read = lambda image: metrics.normalize(join_reading_order(adapter.infer(adapter.preprocess(image))))  # noqa: E731
    level = {e.sample_id: read(decode_image(read_bytes(e), e)) for e in entries}
    assert sum(level[e.sample_id] == metrics.normalize(e.text) for e in entries) >= 10, level
    assert metrics.normalize(entries[0].text) == level[entries[0].sample_id] and len(entries[0].text.split()) == 3
    first = decode_image(read_bytes(entries[0]), entries[0])  # two lines: BATCH ZD-139912 / Q714YXQPJ
    for degrees, fill in ((180, 255), (30, 255), (-45, 0), (150, 128)):
        same = sum(read(_rotated(decode_image(read_bytes(e), e), degrees, fill)) == level[e.sample_id] for e in entries)
        assert same >= 9, (degrees, fill, same)
        assert read(_rotated(first, degrees, fill)).startswith("BATCHZD-"), (degrees, fill)  # its first line first
