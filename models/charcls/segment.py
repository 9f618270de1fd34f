"""Characters from CRAFT's character region map: connected components of the map where it
reaches a share of the strongest mark nearby (faint or blurred print scores low
throughout), wide ones split where the map dips between two peaks, grouped into lines in reading order, each cut from the image as a cell that reaches
halfway to its neighbours and over its line's full height, then into words at wide gaps.

Device side: Python 3.6, numpy and OpenCV."""
from typing import List, NamedTuple, Tuple

import cv2
import numpy as np

Box = Tuple[float, float, float, float]  # x0, y0, x1, y1
CELL = 32  # the classifier's input: CELL x CELL grey
MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255.0  # CRAFT's normalisation
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255.0
LINE_MARGIN = 0.35  # a line's cells reach this many character heights above and below its marks
FLOOR = 0.15  # below this the region map is background, however faint the print
PEAK_WINDOW = 31  # map pixels (a line's height at LINE_HEIGHT): faint print is measured against its own marks
SPLIT_WIDTH = 1.5  # a mark wider than this many times its height is tried for joined characters
DIP = 0.9  # two peaks of a mark are two characters when the map dips below this share between them
WORD_GAP = 1.0  # a gap wider than this many character heights starts a new word


class Line(NamedTuple):
    marks: List[Box]  # each character's region, left to right
    cells: List[Box]  # what the classifier sees of each
    words: List[int]  # index of the first character of each word


def scaled(gray: np.ndarray, height: int) -> np.ndarray:
    """``gray`` resized to ``height`` rows, its width in proportion, both multiples of 32
    (CRAFT's input; its map is half the size)."""
    h, w = gray.shape[:2]
    nh = max(32, int(round(height / 32.0)) * 32)
    nw = max(32, int(round(w * nh / float(h) / 32.0)) * 32)
    return cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_LINEAR)


def craft_input(gray: np.ndarray) -> np.ndarray:
    """(1, 3, H, W) float32, normalised as CRAFT was trained."""
    rgb = np.repeat(gray[:, :, None].astype(np.float32), 3, axis=2)
    return ((rgb - MEAN) / STD).transpose(2, 0, 1)[None].copy()


def marks(region: np.ndarray, threshold: float) -> List[Box]:
    """Boxes, in input pixels (twice the map's), of the map's connected components where it
    exceeds ``threshold`` times its largest value within PEAK_WINDOW, and FLOOR (single-pixel
    specks are noise); a component wider than SPLIT_WIDTH times its height, where the map
    joins neighbouring characters, is split (``_split``)."""
    local = cv2.dilate(region, np.ones((PEAK_WINDOW, PEAK_WINDOW), np.uint8))  # the strongest mark nearby
    above = (region > threshold * local) & (region > FLOOR)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(above.astype(np.uint8), connectivity=4)
    out = []
    for k in range(1, count):
        x, y, w, h, area = stats[k]
        if area < 2:
            continue
        parts = [(0, w)]
        if w > SPLIT_WIDTH * h:
            mine = labels[y:y + h, x:x + w] == k
            patch = np.where(mine, region[y:y + h, x:x + w] / np.maximum(local[y:y + h, x:x + w], FLOOR), 0.0)
            parts = _split(patch, h) or parts
        for a, b in ((x + a, x + b) for a, b in parts):
            rows = np.nonzero((labels[y:y + h, a:b] == k).any(axis=1))[0]
            out.append((2.0 * a, 2.0 * (y + rows[0]), 2.0 * b, 2.0 * (y + rows[-1] + 1)))
    return out


def _split(patch: np.ndarray, height: int) -> List[Tuple[int, int]]:
    """Column ranges of the characters in one component's map: its column profile's peaks
    (each the highest within a third of the component's height) that the profile dips
    between by DIP, cut at the lowest column between them; [] if none."""
    profile = patch.max(axis=0)
    reach = max(1, height // 3)
    peaks = [i for i in range(len(profile))
             if profile[i] > 0 and profile[i] == profile[max(0, i - reach):i + reach + 1].max()]
    kept: List[int] = []
    for i in peaks:
        if kept and (i - kept[-1] <= reach or profile[kept[-1]:i + 1].min() > DIP * min(profile[i], profile[kept[-1]])):
            kept[-1] = i if profile[i] > profile[kept[-1]] else kept[-1]  # not parted: keep the higher
        else:
            kept.append(i)
    if len(kept) < 2:
        return []
    cuts = [0] + [a + int(np.argmin(profile[a:b + 1])) for a, b in zip(kept, kept[1:])] + [len(profile)]
    return list(zip(cuts, cuts[1:]))


def group_lines(boxes: List[Box]) -> List[List[Box]]:
    """Boxes in reading order: lines top to bottom, left to right within each. A box joins
    the line whose vertical span its centre falls in, or the line it overlaps by half its
    height; lines are then sorted by their middle."""
    lines: List[List[Box]] = []
    for box in sorted(boxes, key=lambda b: -(b[3] - b[1])):  # tall characters found the lines
        centre, height = (box[1] + box[3]) / 2.0, box[3] - box[1]
        for line in lines:
            top, bottom = min(b[1] for b in line), max(b[3] for b in line)
            if top <= centre <= bottom or min(box[3], bottom) - max(box[1], top) >= 0.5 * height:
                line.append(box)
                break
        else:
            lines.append([box])
    lines.sort(key=lambda line: (min(b[1] for b in line) + max(b[3] for b in line)) / 2.0)
    return [sorted(line, key=lambda b: b[0]) for line in lines]


def layout(boxes: List[Box], width: int, height: int) -> List[Line]:
    """Each line's cells: from halfway to the previous character to halfway to the next
    (the image's edge, or a character height, at the ends), over the line's marks plus
    LINE_MARGIN character heights; and where its words start."""
    out = []
    for line in group_lines(boxes):
        char_h = float(np.median([b[3] - b[1] for b in line]))
        top = max(0.0, min(b[1] for b in line) - LINE_MARGIN * char_h)
        bottom = min(float(height), max(b[3] for b in line) + LINE_MARGIN * char_h)
        cells, words = [], [0]
        for i, b in enumerate(line):
            left = (line[i - 1][2] + b[0]) / 2.0 if i else max(0.0, b[0] - 0.5 * char_h)
            right = (b[2] + line[i + 1][0]) / 2.0 if i + 1 < len(line) else min(float(width), b[2] + 0.5 * char_h)
            cells.append((left, top, max(right, left + 1.0), bottom))
            if i and b[0] - line[i - 1][2] > WORD_GAP * char_h:
                words.append(i)
        out.append(Line(line, cells, words))
    return out


def cut(gray: np.ndarray, cells: List[Box]) -> np.ndarray:
    """(n, 1, CELL, CELL) float32: each cell resized, standardised to zero mean, unit spread."""
    out = np.zeros((len(cells), 1, CELL, CELL), np.float32)
    h, w = gray.shape[:2]
    for i, (x0, y0, x1, y1) in enumerate(cells):
        x0, y0 = int(max(0, np.floor(x0))), int(max(0, np.floor(y0)))
        x1, y1 = int(min(w, max(x0 + 1, np.ceil(x1)))), int(min(h, max(y0 + 1, np.ceil(y1))))
        patch = cv2.resize(gray[y0:y1, x0:x1], (CELL, CELL), interpolation=cv2.INTER_AREA).astype(np.float32)
        out[i, 0] = (patch - patch.mean()) / (patch.std() + 8.0)
    return out
