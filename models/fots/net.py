"""A FOTS-style end-to-end code reader, simplified for printed industrial codes:

- shared features: an EfficientNet backbone (torchvision, B0-B3, no pretrained weights,
  one grey input channel) and a top-down feature-merging branch to stride 4; or, for the
  lean reader's detector, MobileNetV3-small on the canvas at half resolution (``mnv3s``:
  a tenth of B0's time), its stem's output the stride-4 level;
- detection: axis-aligned rectangles only, a text score map and the distances from each
  pixel to the four sides of its line's box;
- recognition, one of three (``recognizer``): ``features``, on the shared features: RoIAlign
  of each line to a fixed 8 x 96 grid, three convolutions that fold the height away, a
  bidirectional LSTM and CTC over the code alphabet (digits, upper-case letters, ``:/-.,``
  and space); ``pixels``: the line's own pixels from the source image (models/fots/lines.py),
  the reader's default since it trains on line crops at a fraction of a canvas's cost;
  ``both``: the line's pixels with its shared features beside them.

Device side too (the adapter): Python 3.6 and torch/torchvision only.
"""
from typing import Callable, Dict, List, NamedTuple, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.ops import roi_align

from models.fots.line_net import LineRecognizer
from models.fots.spec import BLANK, SHRINK, STRIDE, VOCAB, encode  # noqa: F401 (the network's alphabet and geometry)

ROI_SIZE = (8, 96)  # height, width of each line's features: 96 CTC steps per line
EFFICIENTNET_TAPS = (2, 3, 5, 7)  # stages whose outputs (strides 4, 8, 16, 32) are merged


class Backbone(NamedTuple):
    make: Callable  # torchvision's constructor; its ``features`` are the stages
    taps: Tuple[int, ...]  # stages whose outputs are merged, finest first (EfficientNet: strides 4 to 32)
    pool: int = 1  # the canvas is averaged down by this much first; the finest tap lies at stride 4 of the
    # canvas all the same (MobileNetV3-small's: its stem, at stride 2 of half the canvas)


BACKBONES = {"b0": Backbone(torchvision.models.efficientnet_b0, EFFICIENTNET_TAPS),
             "b1": Backbone(torchvision.models.efficientnet_b1, EFFICIENTNET_TAPS),
             "b2": Backbone(torchvision.models.efficientnet_b2, EFFICIENTNET_TAPS),
             "b3": Backbone(torchvision.models.efficientnet_b3, EFFICIENTNET_TAPS),
             "mnv3s": Backbone(torchvision.models.mobilenet_v3_small, (0, 1, 3, 8, 11), 2)}
RECOGNIZERS = ("features", "pixels", "both")
FUSED_GRID = (8, 128)  # ``both``: each line's features before they are resampled to its steps


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FOTS(nn.Module):
    def __init__(self, backbone: str = "b0", width: int = 64, hidden: int = 96, recognizer: str = "features",
                 line_hidden: int = 128) -> None:
        super().__init__()
        self.recognizer = recognizer
        make, self.taps, self.pool = BACKBONES[backbone]
        try:
            features = make(weights=None).features
        except TypeError:  # torchvision < 0.13 (JetPack 4.x: torch 1.10, torchvision 0.11)
            features = make(pretrained=False).features
        stem = features[0][0]
        features[0][0] = nn.Conv2d(1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
        self.stages = features[: self.taps[-1] + 1]
        with torch.no_grad():
            taps = self._taps(torch.zeros(1, 1, 64, 64))
        channels = [f.shape[1] for f in taps]
        assert self.pool * 64 // taps[0].shape[-1] == STRIDE, "the finest tap must lie at stride 4 of the canvas"
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in channels)
        self.smooth = _conv(width, width)
        self.det = nn.Sequential(_conv(width, width), nn.Conv2d(width, 5, 1))  # score + 4 distances
        if recognizer == "features":
            self.rec_convs = nn.Sequential(
                _conv(width, 128), nn.MaxPool2d((2, 1)), _conv(128, 128), nn.MaxPool2d((2, 1)),
                _conv(128, 128), nn.MaxPool2d((2, 1)))
            self.rnn = nn.LSTM(128, hidden, bidirectional=True)
            self.classify = nn.Linear(2 * hidden, len(VOCAB) + 1)
        else:
            self.lines = LineRecognizer(len(VOCAB) + 1, hidden=line_hidden, fuse=width if recognizer == "both" else 0)

    def _taps(self, x: torch.Tensor) -> List[torch.Tensor]:
        out = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.taps:
                out.append(x)
        return out

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) in [0, 1], H and W multiples of 32 -> merged features at stride 4."""
        taps = self._taps(F.avg_pool2d(images, self.pool) if self.pool > 1 else images)
        merged = self.lateral[-1](taps[-1])
        for lateral, tap in zip(reversed(self.lateral[:-1]), reversed(taps[:-1])):
            merged = F.interpolate(merged, size=tap.shape[-2:], mode="nearest") + lateral(tap)
        return self.smooth(merged)

    def detect(self, feats: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Score logits (B, 1, h, w) and distances in input pixels to top, bottom, left,
        right (B, 4, h, w)."""
        out = self.det(feats)
        return out[:, :1], torch.exp(out[:, 1:].clamp(-6.0, 6.0)) * STRIDE

    def recognize(self, feats: torch.Tensor, rois: torch.Tensor, lines: torch.Tensor = None) -> torch.Tensor:
        """rois (K, 5): batch index, x0, y0, x1, y1 in input pixels; lines (K, 1, HEIGHT, W):
        the lines' own pixels (models/fots/lines.py) -> CTC log-probabilities (T, K, classes)."""
        if self.recognizer == "pixels":
            return self.lines(lines)
        if self.recognizer == "both":  # RoIAlign to a fixed grid (ONNX's RoiAlign has a static size), then to the steps
            x = roi_align(feats, rois, FUSED_GRID, spatial_scale=1.0 / STRIDE, sampling_ratio=2, aligned=True)
            return self.lines(lines, F.interpolate(x, size=(FUSED_GRID[0], lines.shape[-1] // 4), mode="bilinear",
                                                   align_corners=False))
        x = roi_align(feats, rois, ROI_SIZE, spatial_scale=1.0 / STRIDE, sampling_ratio=2, aligned=True)
        x = self.rec_convs(x).squeeze(2).permute(2, 0, 1)  # (T, K, C)
        x, _ = self.rnn(x)
        return F.log_softmax(self.classify(x), dim=-1)

    def forward(self, images: torch.Tensor, rois: torch.Tensor) -> Dict[str, torch.Tensor]:
        feats = self.features(images)
        score, geometry = self.detect(feats)
        return {"score": score, "geometry": geometry, "rec": self.recognize(feats, rois)}
