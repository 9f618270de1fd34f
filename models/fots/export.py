"""The FOTS reader as two ONNX graphs, detector (canvases of any size in multiples of 32 ->
score, geometry, features) and recogniser (the lines' own pixels, and for the ``features``
and ``both`` recognisers the features and line boxes -> CTC log-probabilities), with box
decoding and line cutting between them in numpy as in PyTorch. Used by the ``onnx-cpu`` mode and as the input of
TensorRT builds.

    python -m models.fots.export --out /tmp/fots-onnx
"""
import argparse
import inspect
import os
from typing import Tuple

import torch
import torch.nn as nn

from models.fots import data, lines
from models.fots.net import FOTS

OPSET = 17


class Detector(nn.Module):
    def __init__(self, model: FOTS) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        feats = self.model.features(images)
        score, geometry = self.model.detect(feats)
        return torch.sigmoid(score), geometry, feats


class Recognizer(nn.Module):
    def __init__(self, model: FOTS) -> None:
        super().__init__()
        self.model = model

    def forward(self, feats: torch.Tensor, rois: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.recognize(feats, rois, pixels)


INPUTS = {"features": ("features", "rois"), "pixels": ("lines",), "both": ("features", "rois", "lines")}


def export(model: FOTS, folder: str, opset: int = OPSET) -> Tuple[str, str]:
    """Write detector.onnx and recognizer.onnx (any number of images and lines) into ``folder``."""
    os.makedirs(folder, exist_ok=True)
    detector, recognizer = Detector(model).eval(), Recognizer(model).eval()
    images = torch.zeros(1, 1, data.CANVAS_H, data.CANVAS_W)
    with torch.no_grad():
        feats = detector(images)[2]
    rois = torch.tensor([[0.0, 4.0, 8.0, 200.0, 30.0], [0.0, 10.0, 40.0, 300.0, 70.0]])
    pixels = torch.zeros(2, 1, lines.HEIGHT, 256)
    paths = (os.path.join(folder, "detector.onnx"), os.path.join(folder, "recognizer.onnx"))
    # the TorchScript exporter: dynamo=False where torch (>= 2.5) offers a choice
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    batch = {0: "batch"}
    canvas = {0: "batch", 2: "height", 3: "width"}  # fitted canvases (models.fots.data.for_reading)
    maps = {0: "batch", 2: "map_height", 3: "map_width"}
    torch.onnx.export(detector, (images,), paths[0], input_names=["images"],
                      output_names=["score", "geometry", "features"], opset_version=opset,
                      dynamic_axes={"images": canvas, "score": maps, "geometry": maps, "features": maps}, **legacy)
    names = INPUTS[model.recognizer]
    axes = {"features": batch, "rois": {0: "lines"}, "lines": {0: "lines", 3: "width"},
            "log_probs": {0: "steps", 1: "lines"}}
    given = {"features": feats, "rois": rois, "lines": pixels}

    class Inputs(nn.Module):  # the recogniser with only the inputs its kind reads
        def __init__(self) -> None:
            super().__init__()
            self.recognizer = recognizer

        def forward(self, *args):
            named = dict(zip(names, args))
            return self.recognizer(named.get("features"), named.get("rois"), named.get("lines"))

    torch.onnx.export(Inputs().eval(), tuple(given[n] for n in names), paths[1], input_names=list(names),
                      output_names=["log_probs"], opset_version=opset,
                      dynamic_axes={k: v for k, v in axes.items() if k in names or k == "log_probs"}, **legacy)
    return paths


def main() -> None:
    from models.fots import reader

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=reader.WEIGHTS)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    model, _ = reader.load(args.weights)
    print("\n".join(export(model, args.out)))


if __name__ == "__main__":
    main()
