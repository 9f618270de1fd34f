"""The FOTS reader as two ONNX graphs, detector (canvases of any size in multiples of 32 ->
score, geometry, features) and recogniser (the lines' own pixels, and for the ``features``
and ``both`` recognisers the features and line boxes -> CTC log-probabilities), with box
decoding and line cutting between them in numpy as in PyTorch. Used by the ``onnx-cpu`` mode and as the input of
TensorRT builds, read from ``<weights>/onnx/`` (models/fots/graphs.py), where this writes
them with the upright network's graph beside its own weights:

    python -m models.fots.export                       # the committed reader
    python -m models.fots.export --weights my-weights  # a fine-tuned one
"""
import argparse
import inspect
import os
from typing import List, Optional, Tuple

import torch
import torch.nn as nn

from models.fots import data, graphs, lines
from models.fots.net import FOTS
from models.fots.spec import INPUTS

OPSET = 17  # graphs exported for the moment (tests); shipped ones: graphs.OPSET


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


class ReadsUpright(nn.Module):
    """The line recogniser with the upright network's head (models/fots/upright.py) on the
    same convolutions' columns: one pass reads a line and says which way up it is."""

    def __init__(self, model: FOTS, upright_net: nn.Module) -> None:
        super().__init__()
        self.lines, self.head = model.lines, upright_net.head

    def forward(self, pixels: torch.Tensor):
        x = self.lines.columns(pixels)
        return self.lines.read(x), self.head(x)[:, 0]


def shares_columns(model: FOTS, upright_net: nn.Module) -> bool:
    """Whether the upright network's convolutions are the reader's line recogniser's (it was
    trained on that recogniser's, frozen)."""
    if model.recognizer != "pixels":
        return False
    mine, its = model.lines.convs.state_dict(), upright_net.convs.state_dict()
    return mine.keys() == its.keys() and all(torch.equal(mine[k], its[k]) for k in mine)


def export_reads_upright(model: FOTS, upright_net: nn.Module, path: str, opset: int = OPSET) -> str:
    """``ReadsUpright`` as ONNX: input ``lines``, outputs ``log_probs`` and ``upright`` (the logits)."""
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(ReadsUpright(model, upright_net).eval(), (torch.zeros(2, 1, lines.HEIGHT, 256),), path,
                      input_names=["lines"], output_names=["log_probs", "upright"], opset_version=opset,
                      dynamic_axes={"lines": {0: "lines", 3: "width"}, "log_probs": {0: "steps", 1: "lines"},
                                    "upright": {0: "lines", 1: "steps"}}, **legacy)
    return path


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


def shipped(path: str) -> None:
    """Mark a graph written with ``graphs.OPSET`` as of ``graphs.IR_VERSION``, which older
    runtimes (a Jetson's) read."""
    import onnx

    model = onnx.load(path)
    model.ir_version = min(model.ir_version, graphs.IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def write_graphs(weights: str, upright_weights: str = "") -> List[str]:
    """The reader's graphs of ``weights`` into ``weights/onnx/``, and, where
    ``upright_weights`` is given and its graph is missing or stale, the upright network's
    into its folder; each recorded (models/fots/graphs.py). Where the upright network shares
    the line recogniser's convolutions, also ``graphs.READS_UPRIGHT`` (``ReadsUpright``),
    recorded with the upright weights' SHA-256."""
    from models.fots import reader, upright

    model, _ = reader.load(weights)
    folder = os.path.join(weights, graphs.FOLDER)
    written = list(export(model, folder, graphs.OPSET))
    about = {"torch": torch.__version__, "opset": graphs.OPSET, "precision": "fp32"}
    for path in written:
        shipped(path)
    graphs.note(weights, [os.path.basename(p) for p in written], **about)
    net = upright.load(upright_weights) if upright_weights else None
    if net is not None and shares_columns(model, net):
        written.append(export_reads_upright(model, net, os.path.join(folder, graphs.READS_UPRIGHT), graphs.OPSET))
        shipped(written[-1])
        graphs.note(weights, [graphs.READS_UPRIGHT], upright=graphs.sha256(os.path.join(upright_weights, "model.pt")),
                    **about)
    if upright_weights:
        try:
            graphs.paths(upright_weights, ["upright.onnx"], "")
        except graphs.GraphsMissing:
            written.append(write_upright(upright_weights))
    return written


def write_upright(weights: str) -> str:
    """The upright network's graph (models/fots/upright.py) of ``weights`` into ``weights/onnx/``, recorded."""
    from models.fots import upright

    os.makedirs(os.path.join(weights, graphs.FOLDER), exist_ok=True)
    path = upright.export(upright.load(weights), os.path.join(weights, graphs.FOLDER, "upright.onnx"), graphs.OPSET)
    shipped(path)
    graphs.note(weights, ["upright.onnx"], torch=torch.__version__, opset=graphs.OPSET, precision="fp32")
    return path


def main(argv: Optional[List[str]] = None) -> None:
    from models.fots import reader, upright

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=reader.WEIGHTS, help="a reader's weights folder (default: %(default)s)")
    parser.add_argument("--upright", default=upright.WEIGHTS,
                        help="the upright network's weights folder, whose graph is made when missing or stale "
                             "(default: %(default)s)")
    args = parser.parse_args(argv)
    print("\n".join(write_graphs(args.weights, args.upright)))


if __name__ == "__main__":
    main()
