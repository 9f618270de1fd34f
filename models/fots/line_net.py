"""The reader's line recogniser network (PyTorch): models/fots/lines.py's line inputs ->
CTC log-probabilities over the reader's alphabet; lines.py says how it is built and why."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.fots.lines import CHANNELS, HEIGHT


def _conv(cin: int, cout: int, stride=1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def columns(convs: nn.Module, lines: torch.Tensor) -> torch.Tensor:
    """The recogniser's convolutions over (N, 1, HEIGHT, W) lines, one column per CTC step:
    (N, C * 2, W / STEP); the upright network (models/fots/upright.py) reads the same columns."""
    x = convs(lines * 2.0 - 1.0)  # (N, C, 2, T)
    return x.reshape(x.shape[0], x.shape[1] * x.shape[2], x.shape[3])


class LineRecognizer(nn.Module):
    """(N, 1, HEIGHT, W) in [0, 1] -> CTC log-probabilities (W / STEP, N, classes)."""

    def __init__(self, classes: int, channels: Sequence[int] = CHANNELS, hidden: int = 128, fuse: int = 0) -> None:
        super().__init__()
        a, b, c, d, e, f = channels
        self.convs = nn.Sequential(_conv(1, a, 2), _conv(a, b, 2), _conv(b, c, (2, 1)), _conv(c, d),
                                   _conv(d, e, (2, 1)), _conv(e, f))
        width = f * HEIGHT // 16
        self.fuse = None
        if fuse:  # the detector's features of the line, folded to one row per step
            self.fuse = nn.Sequential(_conv(fuse, 64), nn.MaxPool2d((2, 1)), _conv(64, 64), nn.MaxPool2d((2, 1)),
                                      _conv(64, 64), nn.MaxPool2d((2, 1)))
            width += 64
        self.rnn = nn.LSTM(width, hidden, bidirectional=True)
        self.classify = nn.Linear(2 * hidden, classes)

    def forward(self, lines: torch.Tensor, features: torch.Tensor = None) -> torch.Tensor:
        return self.read(self.columns(lines), features)

    def columns(self, lines: torch.Tensor) -> torch.Tensor:
        return columns(self.convs, lines)

    def read(self, x: torch.Tensor, features: torch.Tensor = None) -> torch.Tensor:
        """``columns``' output -> CTC log-probabilities (T, N, classes)."""
        if self.fuse is not None:  # features: (N, fuse, 8, T)
            x = torch.cat([x, self.fuse(features).squeeze(2)], 1)
        x, _ = self.rnn(x.permute(2, 0, 1))
        return F.log_softmax(self.classify(x), dim=-1)
