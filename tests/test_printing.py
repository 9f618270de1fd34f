"""The printing-style generator that trains the FOTS reader: deterministic, in the reader's
vocabulary, its boxes on its pixels, and its held-out parts never in training frames."""
import os

import numpy as np
import pytest
from fontTools.ttLib import TTFont

from models.fots import data
from models.fots.net import VOCAB
from synth import printing


def test_the_same_index_gives_the_same_crop_and_others_differ():
    a, b, c = printing.render(1, 5), printing.render(1, 5), printing.render(1, 6)
    assert np.array_equal(a.image, b.image) and a.texts == b.texts and a.boxes == b.boxes
    assert a.texts != c.texts


def test_every_family_draws_every_character_of_the_vocabulary():
    for family, files in printing.FAMILIES.items():
        for path in files:
            cmap = TTFont(os.path.join(printing.FONT_ROOT, path)).getBestCmap()
            assert all(ord(c) in cmap for c in VOCAB), path
    assert set(printing.MATRIX_5X7) == set(VOCAB)
    assert all(len(glyph.replace(" ", "")) == 35 for glyph in printing.MATRIX_5X7.values())


def test_crops_hold_their_lines_inside_and_training_never_sees_the_held_out_parts():
    seen = set()
    for i in range(120):
        crop = printing.render(3, i)
        h, w = crop.image.shape
        assert crop.image.dtype == np.uint8 and len(crop.boxes) == len(crop.texts) >= 1
        for (x0, y0, x1, y1), text in zip(crop.boxes, crop.texts):
            assert -2 <= x0 < x1 <= w + 2 and -2 <= y0 < y1 <= h + 2, (i, crop.boxes, crop.image.shape)
            assert set(text) <= set(VOCAB), text
        style = crop.style
        assert printing.HELD_OUT["family"] != style.family and printing.HELD_OUT["technique"] != style.technique
        assert printing.HELD_OUT["format"] != style.format
        seen |= {style.family, style.technique, style.surface}
    assert seen >= set(printing.TECHNIQUES) - {printing.HELD_OUT["technique"]}
    for part in ("family", "technique", "format"):
        style = printing.render(3, 0, held_out=part).style
        assert getattr(style, part) == printing.HELD_OUT[part]


def test_thin_glyphs_at_small_sizes_still_print_as_inkjet_dots():
    """A training frame in FreeMono printed as inkjet at a small size once printed no dot at
    all and stopped a training run: every such crop prints its lines."""
    for index in range(307400, 307440):
        crop = printing.render(data.TRAIN_SEED, index, technique="inkjet", family="free-mono")
        assert crop.style.family == "free-mono" and crop.style.technique == "inkjet"
        assert crop.image.std() > 0.02 * 255 and crop.texts, index


def test_training_mixes_the_two_generators_at_the_share_asked():
    mixed = [data.training_sample(data.TRAIN_START + i, styles=0.5) for i in range(40)]
    assert 10 <= sum(s.style is not None for s in mixed) <= 30
    assert all(s.style is None for s in (data.training_sample(data.TRAIN_START + i) for i in range(5)))
    sample = data.training_sample(data.VALID_START, styles=1.0)
    assert sample.image.shape == (data.CANVAS_H, data.CANVAS_W) and sample.style is not None
    for x0, y0, x1, y1 in sample.boxes:
        assert 0 <= x0 < x1 <= data.CANVAS_W + 2 and 0 <= y0 < y1 <= data.CANVAS_H + 2


def test_line_boxes_of_a_mask_with_no_ink_or_fewer_rows_than_lines():
    """What stopped a training run at step 18,9xx: a band with no rows (IndexError)."""
    assert printing.line_boxes(np.zeros((20, 50), np.float32), 1) == [(0.0, 0.0, 50.0, 20.0)]
    boxes = printing.line_boxes(np.full((2, 30), 0.2, np.float32), 3)  # faint, 2 rows, 3 lines
    assert len(boxes) == 3 and all(y1 > y0 and x1 > x0 for x0, y0, x1, y1 in boxes)


@pytest.mark.parametrize("size", [14, 24, 38])
def test_inkjet_prints_a_capital_7_to_10_dots_high_as_the_printers_fonts_do(size):
    """A vertical stroke (an I) of an outline font as inkjet: 7 to 10 rows of dots down the
    stroke, as the printers' 7- to 10-dot fonts have, at every size (the grid once had 4 to 6,
    fewer than any printer); the printed dots are ink where the stroke is."""
    mask = np.zeros((size * 2, size), np.float32)
    top, cap, half = size // 2, int(round(0.72 * size)), max(1, size // 12)
    mask[top: top + cap, size // 2 - half: size // 2 + half] = 1.0
    for seed in range(8):
        centres, pitch, k = printing.inkjet_grid(np.random.default_rng(seed), mask, size)
        assert pitch >= 3.0 and 7 <= len(np.unique(centres[:, 1])) <= 11  # the threshold may catch one more
        dots = printing._inkjet(np.random.default_rng(seed), mask, size)
        assert dots.shape == mask.shape and dots[top: top + cap].max() > 0.3 and dots[:top - 2].max() < 0.05
    assert printing.render(5, 1, technique="inkjet").style.technique == "inkjet"
    assert printing.render(5, 1).style[:3] == printing.random_style(np.random.default_rng([5, 1, 7]))[:3]  # as drawn
