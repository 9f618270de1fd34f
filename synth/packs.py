"""Dates as food and drug packs print them, for training readers on real print: a block of
one to three lines such as

    Use by          USE BY 16 NOV        Best before end
    16 NOV          L2215 11:19          MAR 2026
    11:19

in mixed or upper case (labels are upper case: the readers' alphabet has no lower case, and
a reading is scored case-folded), with day and month names or numbers, a time or lot code
under or beside the date, printed mostly in heavy and bold sans faces (``printing.FAMILIES
["heavy-sans"]``), then photographed as a hand-held phone takes it: turned up to
``MAX_TURN`` degrees, in perspective, under uneven light.

``pack_block`` draws the text; ``photographed`` prints it through synth/printing.py and
turns it; ``straightened`` turns it back as a reader that finds the lines' angle does, with
an error left in; ``line_samples`` cuts its lines for training a line recogniser.
"""
from typing import List, Optional, Tuple

import cv2
import numpy as np

from synth import printing

HEADERS = ("USE BY", "Use by", "Use By", "use by", "BEST BEFORE", "Best before", "Best Before", "BEST BEFORE END",
           "Best before end", "DISPLAY UNTIL", "Display until", "BB", "BBE", "EXP", "Exp", "EXPIRY", "Expiry",
           "SELL BY", "Sell by", "USE BEFORE")
MONTH_NAMES = printing.MONTHS + ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HEAVY = 0.55  # share of blocks printed in the heavy sans faces
MAX_TURN = 45.0  # degrees either way a hand-held photo turns the block


def _date(rng: np.random.Generator) -> str:
    day, month = "%02d" % rng.integers(1, 32), str(rng.choice(MONTH_NAMES))
    year = int(rng.integers(2019, 2034))
    if rng.random() < 0.6:  # with a month's name
        return [day + " " + month, day + " " + month, day + month, day + " " + month + " " + str(year),
                day + " " + month + " " + "%02d" % (year % 100), month + " " + str(year), day + "." + month,
                "END " + month + " " + str(year)][int(rng.integers(8))]
    mark = str(rng.choice(["/", ".", "-", " "]))
    return printing._date(rng, str(rng.choice(["dmy", "dmy", "my", "ymd"])), mark, int(rng.choice([2, 4])))


def _code(rng: np.random.Generator) -> str:
    """What packs print under or beside a date: a time, a lot, or both."""
    kind = rng.random()
    if kind < 0.45:
        return printing._time(rng)
    lot = printing._pick(rng, "L" if rng.random() < 0.6 else printing.UPPER, 1) + \
        printing._pick(rng, printing.DIGITS, int(rng.integers(3, 9)))
    return lot if kind < 0.75 else [lot + " " + printing._time(rng), printing._time(rng) + " " + lot][int(rng.integers(2))]


def pack_block(rng: np.random.Generator) -> List[str]:
    """One to three lines of a printed pack date (as printed: mixed case allowed)."""
    header, date, code = str(rng.choice(HEADERS)), _date(rng), _code(rng)
    layout = rng.random()
    if layout < 0.35:
        lines = [header, date, code]
    elif layout < 0.5:
        lines = [header, date]
    elif layout < 0.65:
        lines = [header + " " + date, code]
    elif layout < 0.75:
        lines = [date, code]
    elif layout < 0.85:
        lines = [header + " " + date]
    else:
        lines = [date]
    return [line[:40] for line in lines]


def _corners(boxes) -> np.ndarray:
    return np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]] for x0, y0, x1, y1 in boxes], np.float32).reshape(-1, 4, 2)


def photographed(seed: int, index: int) -> Tuple[printing.Crop, np.ndarray, float]:
    """Pack date ``index`` of ``seed`` printed (synth/printing.py) and photographed turned by
    an angle in [-MAX_TURN, MAX_TURN] degrees (counter-clockwise, as OpenCV turns) and in
    perspective, on a canvas that holds all of it. Returns the crop (texts upper case), each
    line's four corners in it (N, 4, 2) and the angle."""
    rng = np.random.default_rng([seed, index, 21])
    lines = pack_block(rng)
    family = "heavy-sans" if rng.random() < HEAVY else None
    technique = str(rng.choice(["ink", "ink", "thermal", "inkjet"]))
    crop = printing.render(seed, index, lines=lines, technique=technique, family=family)
    angle = float(rng.uniform(-MAX_TURN, MAX_TURN)) if rng.random() < 0.7 else 0.0
    h, w = crop.image.shape
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    tilt = rng.uniform(-0.1, 0.1, (4, 2)).astype(np.float32) * np.float32(min(w, h))
    moved = cv2.transform((frame + tilt)[None], cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0))[0]
    moved -= moved.min(axis=0)
    homography = cv2.getPerspectiveTransform(frame, moved.astype(np.float32))
    size = tuple(int(np.ceil(v)) + 1 for v in moved.max(axis=0))
    image = cv2.warpPerspective(crop.image, homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    corners = cv2.perspectiveTransform(_corners(crop.boxes).reshape(1, -1, 2), homography).reshape(-1, 4, 2)
    return crop._replace(image=image, texts=[t.upper() for t in crop.texts]), corners, angle


def straightened(seed: int, index: int, error: float = 3.0) -> printing.Crop:
    """Pack date ``index`` as a reader sees it once it has turned the photograph back by the
    angle it found, off by up to ``error`` degrees: the lines near horizontal, the
    perspective and the light left in; line boxes: the hulls of the lines' corners."""
    crop, corners, angle = photographed(seed, index)
    rng = np.random.default_rng([seed, index, 22])
    h, w = crop.image.shape
    matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -angle + float(rng.uniform(-error, error)), 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    nw, nh = int(h * sin + w * cos) + 1, int(h * cos + w * sin) + 1
    matrix[0, 2] += nw / 2.0 - w / 2.0
    matrix[1, 2] += nh / 2.0 - h / 2.0
    image = cv2.warpAffine(crop.image, matrix, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    back = cv2.transform(corners.reshape(1, -1, 2), matrix).reshape(-1, 4, 2)
    boxes = [(float(max(0, c[:, 0].min())), float(max(0, c[:, 1].min())), float(min(nw, c[:, 0].max())),
              float(min(nh, c[:, 1].max()))) for c in back]
    return crop._replace(image=image, boxes=boxes)


def line_samples(index: int, seed: int, error: float = 3.0) -> list:
    """The lines of pack date ``index``, straightened (``straightened``), cut as synth.lines
    cuts every generated line."""
    from synth.lines import cut_lines

    crop = straightened(seed, index, error)
    return cut_lines(crop.image, crop.boxes, crop.texts, "packs:" + "/".join(crop.style[:3]))
