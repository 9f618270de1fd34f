"""What the reader's network reads and writes, without torch (the ONNX path imports only
this): the alphabet of its CTC classes and the geometry of its detection maps."""
from typing import List

VOCAB = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ:/-., "
BLANK = 0  # CTC blank; character VOCAB[i] is class i + 1
STRIDE = 4
SHRINK = 0.2  # a line's score label is its box shrunk by this much of its height on every side
# the recogniser graph's inputs for each kind of recogniser (models/fots/net.py)
INPUTS = {"features": ("features", "rois"), "pixels": ("lines",), "both": ("features", "rois", "lines")}


def encode(text: str) -> List[int]:
    """Class indices of a line's text; characters outside the alphabet are an error."""
    return [VOCAB.index(c) + 1 for c in text]
