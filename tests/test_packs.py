"""Print real packs use, in training (synth/packs.py), and real photographs labelled by region
and date made into line annotations by the reader (models/fots/line_labels.py)."""
import csv
import os

import numpy as np

from bench.config import REPO
from models.fots import annotated, line_labels, train_lines
from models.fots.net import VOCAB
from synth import lines as synth_lines
from synth import packs


def test_pack_blocks_are_deterministic_upper_case_in_the_alphabet_and_straightened():
    first = [s.text for s in packs.line_samples(5, 7)]
    assert first == [s.text for s in packs.line_samples(5, 7)]
    samples = [s for i in range(40) for s in packs.line_samples(i, 7)]
    assert all(set(s.text) <= set(VOCAB) and s.text == s.text.upper() for s in samples)
    assert any(m in s.text for s in samples for m in packs.printing.MONTHS)
    assert sum(s.source.startswith("packs:heavy-sans") for s in samples) >= 0.3 * len(samples)
    for s in samples:  # the line's box inside its image, wider than high (turned back level)
        x0, y0, x1, y1 = s.box
        assert 0 <= x0 < x1 <= s.image.shape[1] + 1 and 0 <= y0 < y1 <= s.image.shape[0] + 1
    turned = [abs(packs.photographed(7, i)[2]) for i in range(40)]
    assert max(turned) > 20 and min(turned) == 0.0
    mixed = [synth_lines.line_samples(1000 + i, pack_lines=0.5)[0].source for i in range(40)]
    assert 8 <= sum(s.startswith("packs:") for s in mixed) <= 32


def test_random_lines_print_digits_far_more_often_than_o_i_or_q():
    text = "".join(synth_lines.random_line(np.random.default_rng(k)) for k in range(300))
    digits = sum(c.isdigit() for c in text) / 10.0
    assert digits > 2.5 * text.count("A") and text.count("O") < 0.5 * text.count("A")


def test_weighing_a_source_draws_its_lines_that_much_more_often(tmp_path):
    synth_lines.write_cache(str(tmp_path), 10000, 30, styles=0.5)
    found = synth_lines.LineCache(str(tmp_path))
    chance = train_lines.source_weights(found, {"frames": 3.0})
    frames = np.array([s.startswith("frames") for s in found.sources])
    assert 0 < frames.sum() < len(frames)
    assert np.allclose(chance[frames], 3 * chance[~frames][0]) and abs(chance.sum() - 1) < 1e-9
    assert train_lines.source_weights(found, {}) is None


def test_real_photographs_labelled_by_region_become_line_annotations(tmp_path):
    source = os.path.join(REPO, "datasets", "real-useby", "train")
    with open(os.path.join(source, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))[:6]
    rows[5]["text"] = "29 FEB"  # no line of that photo comes near it
    (tmp_path / "manifest.csv").write_text("image,text,x,y,w,h,split\n" + "".join(
        "%s,%s,%s,%s,%s,%s,%s\n" % (os.path.join(source, r["image"]), r["text"], r["x"], r["y"], r["w"], r["h"],
                                    r["split"]) for r in rows))
    skipped = line_labels.label_lines(str(tmp_path / "manifest.csv"), str(tmp_path / "lines"))
    assert len(skipped) == 1 and "row 7" in skipped[0] and "'29 FEB'" in skipped[0]
    with open(str(tmp_path / "lines" / "manifest.csv")) as f:
        labelled = list(csv.DictReader(f))
    assert [r["text"] for r in labelled] == [r["text"] for r in rows[:5]]
    photos = annotated.load(str(tmp_path / "lines"))  # what make train-fots DATASET=... reads
    assert len(photos.train) + len(photos.test) == 5
