"""The generator is deterministic, and the committed dataset is what it generates."""
import csv
import os

from fontTools.ttLib import TTFont

from synth import frames as synth
from tests.conftest import EMBEDDED


def test_same_seed_gives_byte_identical_files(tmp_path):
    synth.write_dataset(str(tmp_path), seed=20240801, count=3)
    for name in ("img/000000.jpg", "img/000001.jpg", "img/000002.jpg", "warmup.jpg"):
        with open(os.path.join(EMBEDDED, name), "rb") as a, open(os.path.join(str(tmp_path), name), "rb") as b:
            assert a.read() == b.read(), name
    with open(os.path.join(EMBEDDED, "manifest.csv")) as f:
        committed = list(csv.reader(f))[:4]
    with open(os.path.join(str(tmp_path), "manifest.csv")) as f:
        assert list(csv.reader(f)) == committed


def test_different_seeds_differ():
    assert synth.render(1, 0).text != synth.render(2, 0).text or \
        (synth.render(1, 0).image != synth.render(2, 0).image).any()


def test_every_font_covers_the_code_alphabet():
    for path, _, _ in synth.FONTS:
        cmap = TTFont(os.path.join(synth.FONT_ROOT, path)).getBestCmap()
        assert all(ord(c) in cmap for c in synth.CODE_ALPHABET), path


def test_codes_follow_the_grammars_and_boxes_fit_the_frame():
    for i in range(40):
        s = synth.render(11, i)
        x, y, w, h = s.box
        assert 0 <= x and 0 <= y and x + w <= synth.FRAME_W and y + h <= synth.FRAME_H
        assert set(s.text) <= set(synth.CODE_ALPHABET), s.text
        assert s.image.shape == (synth.FRAME_H, synth.FRAME_W, 3)
