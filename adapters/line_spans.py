"""Line spans: a detector's boxes on a tight crop of a code, made into whole lines for the
recogniser.

On a tight crop, a text detector such as CRAFT drops what it is least sure of: a faint or
thin glyph at a line's end (``LOT 629587189`` for ``LOT 6295871891``), a colon or a word set
apart by wide tracking, the middle of a dot-matrix line in a glare, or the whole of a faint
crop. Here each line of boxes becomes one span from its first box to its last, reaching to the
crop's left or right edge where the strip the line leaves there could hold a glyph (at least
``GLYPH`` of a line height wide) and is at most ``reach`` line heights wide; a crop where
nothing was found is read whole, as one line. A narrower strip holds no glyph, and widening
into it only changes the margin the recogniser sees. A short line in a block of lines ends
far from the edge and keeps its ends: widened into blank background, a recogniser reads stray
characters there. The widest line of a tight crop spans it; where it leaves a wider strip,
``to_edges`` gives it widened to the edge as a second reading, for the recogniser to keep
where it is surer of it.

Boxes are ``[x_min, x_max, y_min, y_max]``, EasyOCR's ``horizontal_list`` order.
"""
from typing import List, Sequence

from adapters.base import group_lines

GLYPH = 0.5  # a glyph of a code is about half a line height wide


def line_spans(boxes: Sequence[Sequence[float]], width: int, height: int, reach: float) -> List[List[int]]:
    """The spans to read in a ``width`` x ``height`` crop, top to bottom; see the module."""
    if not boxes:
        return [[0, width, 0, height]]
    spans = []
    for line in group_lines(boxes, lambda b: (b[2], b[3])):
        x0, x1 = max(0, min(b[0] for b in line)), min(width, max(b[1] for b in line))
        y0, y1 = max(0, min(b[2] for b in line)), min(height, max(b[3] for b in line))
        low, high = GLYPH * (y1 - y0), reach * (y1 - y0)
        spans.append([0 if low <= x0 <= high else int(x0), width if low <= width - x1 <= high else int(x1),
                      int(y0), int(y1)])
    return spans


def to_edges(span: Sequence[int], width: int) -> List[int]:
    """``span`` widened to the crop's left and right edges where the strip it leaves could hold
    a glyph, however wide: the second reading of a line that ends far from an edge."""
    x0, x1, y0, y1 = span
    low = GLYPH * (y1 - y0)
    return [0 if x0 >= low else x0, width if width - x1 >= low else x1, y0, y1]
