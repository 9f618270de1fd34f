"""Manifest loading: clear errors naming file and row; bad rows become bad samples."""
import os

import cv2
import numpy as np
import pytest

from bench.dataset import (ManifestError, SampleError, apply_variant, decode, manifest_warnings, open_dataset,
                           read_bytes, read_manifest)


def manifest(tmp_path, text, name="manifest.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def image(tmp_path, name="a.png", value=200, size=(40, 80)):
    pixels = np.full(size, value, np.uint8)
    pixels[10:30, 10:70] = 20  # a dark "code" on a light label
    cv2.imwrite(str(tmp_path / name), pixels)


def test_missing_text_column_names_the_file(tmp_path):
    path = manifest(tmp_path, "image,label\na.png,X\n")
    with pytest.raises(ManifestError, match=r"manifest\.csv.*lacks column\(s\) text"):
        read_manifest(path)
    for mark, name in ((";", "semicolons"), ("\t", "tabs")):  # a spreadsheet's other CSV dialects
        with pytest.raises(ManifestError, match="separated by %s: save it with commas" % name):
            read_manifest(manifest(tmp_path, "image%stext\na.png%sX\n" % (mark, mark)))


def test_partial_box_columns_and_extra_fields_are_rejected(tmp_path):
    with pytest.raises(ManifestError, match="all of x,y,w,h"):
        read_manifest(manifest(tmp_path, "image,text,x,y\na.png,X,1,2\n"))
    with pytest.raises(ManifestError, match="row 3: 1 field"):
        read_manifest(manifest(tmp_path, "image,text\na.png,X\nb.png,Y,extra\n"))


def test_bad_rows_become_samples_with_a_problem(tmp_path):
    entries = read_manifest(manifest(tmp_path, "image,text,x,y,w,h\n"
                                               "a.png,A,1,2,0,5\n"
                                               "b.png,B,x,2,3,4\n"
                                               "c.png,C,,,,\n"))
    assert "row 2: box has zero or negative size" in entries[0].problem
    assert "row 3: box x,y,w,h must be four numbers" in entries[1].problem
    assert entries[2].problem == "" and entries[2].box is None
    with pytest.raises(SampleError, match="row 2"):
        read_bytes(entries[0])


def test_rows_are_named_by_their_line_across_blank_lines_and_windows_paths_and_a_second_header_are_met(tmp_path):
    os.makedirs(str(tmp_path / "img"))
    image(tmp_path / "img")
    entries = read_manifest(manifest(tmp_path, "image,text\r\n\r\nimg\\a.png,A\r\n\r\n\r\nnone.png,B\r\n"))
    assert [e.where for e in entries] == ["manifest.csv row 3", "manifest.csv row 6"]
    assert entries[0].sample_id == "img/a.png" and len(read_bytes(entries[0])) > 0  # written on Windows
    with pytest.raises(SampleError, match=r"row 6: cannot read image .*none\.png"):
        read_bytes(entries[1])
    with pytest.raises(ManifestError, match=r"row 5: not valid CSV .*a quote"):
        read_manifest(manifest(tmp_path, 'image,text\na.png,A\n\n\n"b.png,B\nc.png,C\n'))
    with pytest.raises(ManifestError, match="row 4: the header again"):
        read_manifest(manifest(tmp_path, "image,text\na.png,A\n\nimage,text\nb.png,B\n"))


def test_labels_with_an_invisible_character_or_a_look_alike_letter_are_warned_about_by_row(tmp_path):
    entries = read_manifest(manifest(tmp_path, "image,text\na.png,LOT 12\u200b\nb.png,\u0415XP 1\nc.png,\u0415XP 2\n"
                                               "d.png,\u041b\u041e\u0422 12\ne.png,\u00c9T\u00c9 3\n"))
    said = manifest_warnings(entries)
    assert said == ["manifest.csv row 2: the label holds an invisible U+200B ZERO WIDTH SPACE; a reading will hardly "
                    "ever equal it (fix the label)",
                    "manifest.csv rows 3 and 4: the label holds U+0415 CYRILLIC CAPITAL LETTER IE among Latin letters, "
                    "like one to the eye; a reading will hardly ever equal it (fix the label)"], said
    # a label wholly in another script, or Latin letters with accents, is no mistake


def test_missing_and_corrupt_images_name_file_and_row(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    entries = read_manifest(manifest(tmp_path, "image,text\nnone.png,A\nbad.jpg,B\n"))
    with pytest.raises(SampleError, match=r"row 2: cannot read image .*none\.png"):
        read_bytes(entries[0])
    with pytest.raises(SampleError, match=r"row 3: cannot decode image .*bad\.jpg"):
        decode(read_bytes(entries[1]), entries[1])


def test_crop_to_box_grayscale_and_duplicate_ids(tmp_path):
    image(tmp_path)
    entries = read_manifest(manifest(tmp_path, "image,text,x,y,w,h\na.png,A,10,10,60,20\na.png,A,0,0,500,500\n"))
    assert [e.sample_id for e in entries] == ["a.png", "a.png#row3"]
    crop = decode(read_bytes(entries[0]), entries[0])
    assert crop.shape == (20, 60) and int(crop.max()) == 20
    with pytest.raises(SampleError, match=r"row 3: box \(0,0,500,500\) reaches past the 80x40 image .*a\.png"):
        decode(read_bytes(entries[1]), entries[1])  # clipped, it would be read as another region
    color = decode(read_bytes(entries[0]), entries[0], grayscale=False)
    assert color.shape == (20, 60, 3)


@pytest.mark.parametrize("name,depth", [("clear.png", np.uint8), ("clear16.png", np.uint16), ("clear.webp", np.uint8)])
def test_a_transparent_image_reads_as_a_viewer_shows_it_over_white(tmp_path, name, depth):
    """Black print on a transparent background (as binarising apps export crops): read as grey
    the transparent pixels' colour (black) would hide the print."""
    top = np.iinfo(depth).max
    pixels = np.zeros((40, 80, 4), depth)  # transparent black everywhere
    pixels[10:30, 10:70, 3] = top  # opaque black print
    pixels[10:30, 40:70, 3] = top // 2  # half-transparent print: mid grey over white
    cv2.imwrite(str(tmp_path / name), pixels)
    entries = read_manifest(manifest(tmp_path, "image,text\n%s,A\n" % name))
    gray = decode(read_bytes(entries[0]), entries[0])
    assert gray.dtype == np.uint8 and gray[0, 0] == 255 and gray[20, 20] == 0 and 120 <= gray[20, 50] <= 135
    color = decode(read_bytes(entries[0]), entries[0], grayscale=False)
    assert color.shape == (40, 80, 3) and color[0, 0].tolist() == [255, 255, 255]


def test_otsu_gives_dark_text_on_white_whatever_the_polarity():
    light_on_dark = np.full((30, 60), 30, np.uint8)
    light_on_dark[10:20, 5:55] = 220
    out = apply_variant(light_on_dark, "otsu")
    assert set(np.unique(out)) <= {0, 255}
    assert out[0, 0] == 255 and out[15, 30] == 0
    assert apply_variant(light_on_dark, "clahe").shape == light_on_dark.shape
    with pytest.raises(ValueError, match="unknown preprocessing variant"):
        apply_variant(light_on_dark, "sharpen")


def test_embedded_dataset_is_complete_and_has_a_separate_warmup_frame():
    from tests.conftest import EMBEDDED

    data = open_dataset(EMBEDDED)
    assert len(data.entries) >= 200
    assert all(e.box is not None and not e.problem and os.path.isfile(e.path) for e in data.entries)
    assert data.warmup is not None
    assert data.warmup.path not in {e.path for e in data.entries}


def test_real_plate_dataset_reads_without_boxes():
    from tests.conftest import REPO

    plates = os.path.join(os.path.dirname(REPO), "shared", "datasets", "openalpr-us-plates")
    if not os.path.isdir(plates):
        pytest.skip("../shared/datasets/openalpr-us-plates is not beside this checkout")
    data = open_dataset(plates)
    assert len(data.entries) == 741 and data.warmup is None
    first = data.entries[0]
    assert first.box is None and decode(read_bytes(first), first).ndim == 2
