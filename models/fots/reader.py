"""Inference: a grey image in, lines (box in the image's pixels, text, confidence) out.
Used by training's validation and by adapters/fots.py."""
import json
import os
from typing import List, Tuple

import numpy as np
import torch

from models.fots import data, decode
from models.fots.net import FOTS

WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "fots-b0")


def load(folder: str = WEIGHTS, device: str = "cpu") -> Tuple[FOTS, dict]:
    """The model described by ``folder/config.json`` with ``folder/model.pt`` (fp16 on disk)."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    model = FOTS(config["backbone"], config["width"], config["hidden"])
    state = torch.load(os.path.join(folder, "model.pt"), map_location="cpu")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.to(device).eval(), config


def read(model: FOTS, canvas: data.Canvas, device: str = "cpu",
         threshold: float = 0.5) -> List[Tuple[Tuple[float, float, float, float], str, float]]:
    """Lines on a canvas (``data.to_canvas(gray)``), with boxes in the source's pixels."""
    with torch.no_grad():
        images = torch.from_numpy(canvas.image)[None, None].to(device)
        feats = model.features(images)
        score, geometry = model.detect(feats)
        found = decode.boxes(torch.sigmoid(score)[0, 0].cpu().numpy(), geometry[0].cpu().numpy(), threshold)
        if not found:
            return []
        rois = torch.tensor([[0.0] + list(box) for box, _ in found], device=device)
        texts = decode.ctc_greedy(model.recognize(feats, rois).cpu().numpy())
    ox, oy = canvas.offset
    out = []
    for (box, det_conf), (text, rec_conf) in zip(found, texts):
        x0, y0, x1, y1 = box
        source = ((x0 - ox) / canvas.scale, (y0 - oy) / canvas.scale, (x1 - ox) / canvas.scale, (y1 - oy) / canvas.scale)
        out.append((source, text, det_conf * rec_conf))
    return out
