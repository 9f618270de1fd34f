"""Which way up a line is: a small network that tells a line from the same line turned by
180 degrees, as PP-OCR's text-direction classifier does. Finding a line's angle from its
edges (models/fots/orient.py) leaves that choice open, and the recogniser reads an upside-down
line as confidently as an upright one (`AON 6I` for `19 NOV`), so its confidence cannot
settle it.

- ``UprightNet``: (N, 1, lines.HEIGHT, W), the recogniser's own line inputs, -> a logit per
  4 input columns that the line is upside down, from the committed recogniser's
  convolutions (frozen; the network keeps its own copy) and a small head; a line's verdict is
  the mean over its own columns, a canvas's the lines' verdicts weighed by their widths
  (``upside_down``).
- Training (``python -m models.fots.upright``): lines of the line cache, each turned over
  with probability one half, through the project's one training loop (models/training.py);
  validation on the recogniser's fixed validation lines, each both ways up.

Device side too (numpy for ``upside_down``; the network in PyTorch or ONNX Runtime).
"""
import argparse
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np

MARGIN = 1.5  # a canvas is turned over when its mean logit is above this (chosen on real-useby/train; docs/our-reader.md)
COLUMNS = 4  # input columns per verdict (the recogniser's CTC step)
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "upright")


def upside_down(logits: np.ndarray, widths: Sequence[int], owners: Sequence[int], count: int) -> np.ndarray:
    """For ``count`` canvases, whether each is upside down: ``logits`` (lines, W / COLUMNS)
    from the network over a batch of lines of ``widths`` input columns, line k belonging to
    canvas ``owners[k]``; each line's mean logit over its own columns, the canvas's mean of
    its lines' weighed by their widths, above ``MARGIN``: an upright line turned over by
    mistake costs a reading, and upside-down codes are the rarer case."""
    votes, weights = np.zeros(count), np.zeros(count)
    for row, width, owner in zip(logits, widths, owners):
        n = max(1, int(width) // COLUMNS)
        votes[owner] += float(row[:n].mean()) * width
        weights[owner] += width
    return votes > MARGIN * np.maximum(weights, 1e-9)


def _torch():
    import torch
    import torch.nn as nn

    from models.fots import line_net, lines
    from models.fots.net import VOCAB

    class UprightNet(nn.Module):
        """(N, 1, 32, W) in [0, 1] -> (N, W / 4) logits that the line is upside down: the
        reader's line recogniser's convolutions (frozen: they already tell glyphs apart), then
        two 1-D convolutions over its columns."""

        def __init__(self) -> None:
            super().__init__()
            self.convs = line_net.LineRecognizer(len(VOCAB) + 1).convs
            for p in self.convs.parameters():
                p.requires_grad_(False)
            width = lines.CHANNELS[-1] * lines.HEIGHT // 16
            self.head = nn.Sequential(nn.Conv1d(width, 64, 5, padding=2), nn.ReLU(inplace=True),
                                      nn.Conv1d(64, 64, 5, padding=2), nn.ReLU(inplace=True), nn.Conv1d(64, 1, 1))

        def train(self, mode: bool = True):
            super().train(mode)
            self.convs.eval()  # frozen, batch statistics included
            return self

        def forward(self, lines):
            return self.head(line_net.columns(self.convs, lines))[:, 0]

        def take_convs(self, recognizer) -> None:
            """The convolutions of a models.fots.line_net.LineRecognizer."""
            with torch.no_grad():
                self.convs.load_state_dict(recognizer.convs.state_dict())

    return UprightNet


def build():
    return _torch()()


def load(folder: str = WEIGHTS, device: str = "cpu"):
    """The network of ``folder/model.pt`` (fp16 on disk), or None where there is none."""
    import torch

    path = os.path.join(folder, "model.pt")
    if not os.path.isfile(path):
        return None
    net = build()
    net.load_state_dict({k: v.float() if v.is_floating_point() else v
                         for k, v in torch.load(path, map_location="cpu").items()})
    return net.to(device).eval()


def export(net, path: str, opset: int) -> str:
    """``net`` as ONNX (input ``lines``: any number and width; output ``logits``)."""
    import inspect

    import torch

    from models.fots import lines

    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(net.eval(), (torch.zeros(2, 1, lines.HEIGHT, 256),), path, input_names=["lines"],
                      output_names=["logits"], opset_version=opset,
                      dynamic_axes={"lines": {0: "lines", 3: "width"}, "logits": {0: "lines", 1: "steps"}}, **legacy)
    return path


# ---------------------------------------------------------------- training
def _flip(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x[::-1, ::-1])


def _task(cache: str, batch: int, valid: int, recognizer: str):
    import torch
    import torch.nn.functional as F

    from models import training
    from models.fots import lines, train_lines
    from synth import lines as synth_lines

    class UprightTask(training.Task):
        def __init__(self) -> None:
            groups = train_lines.valid_lines(valid)
            rng = np.random.default_rng(5)
            self.valid = [(x, False) for items in groups.values() for x, _ in items]
            self.valid = [(_flip(x), True) if rng.random() < 0.5 else (x, False) for x, _ in self.valid]

        def batches(self, step: int) -> Iterator[Any]:
            found = synth_lines.LineCache(cache)
            while True:
                rng = np.random.default_rng([9, step])
                samples = [found[int(i)] for i in rng.integers(0, len(found), batch)]
                inputs = [train_lines.view(s, rng, training=True) for s in samples]
                flips = rng.random(batch) < 0.5
                inputs = [_flip(x) if f else x for x, f in zip(inputs, flips)]
                x, steps = lines.batch(inputs, multiple=COLUMNS * 4)
                yield torch.from_numpy(x), torch.from_numpy(steps * lines.STEP), torch.from_numpy(flips.astype(np.float32))
                step += 1

        def size(self, b) -> int:
            return int(b[0].shape[0])

        def _verdicts(self, model, x, widths):
            logits = model(x)
            cols = torch.arange(logits.shape[1])[None, :]
            mask = (cols < torch.clamp(widths // COLUMNS, min=1)[:, None]).float()
            return (logits * mask).sum(1) / mask.sum(1)

        def loss(self, model, b, device: str) -> Dict[str, torch.Tensor]:
            x, widths, flips = b
            return {"loss": F.binary_cross_entropy_with_logits(self._verdicts(model, x.to(device), widths.to(device)),
                                                              flips.to(device))}

        def validate(self, model, device: str) -> Dict[str, Any]:
            right = 0
            with torch.no_grad():
                for i in range(0, len(self.valid), 64):
                    chunk = self.valid[i:i + 64]
                    x, steps = lines.batch([v for v, _ in chunk])
                    said = self._verdicts(model, torch.from_numpy(x).to(device), torch.from_numpy(steps * lines.STEP))
                    right += sum(int((float(s) > 0) == f) for s, (_, f) in zip(said.cpu(), chunk))
            return {"valid_exact": round(right / len(self.valid), 4), "valid_n": len(self.valid), "examples": []}

        def save(self, model, folder: str) -> None:
            state = {k: v.detach().cpu().half() if v.is_floating_point() else v.cpu()
                     for k, v in model.state_dict().items()}
            torch.save(state, os.path.join(folder, "model.pt.tmp"))
            os.replace(os.path.join(folder, "model.pt.tmp"), os.path.join(folder, "model.pt"))

        def finish(self, folder: str) -> None:
            from models.fots.export import write_upright

            write_upright(folder)

        def validation_id(self) -> str:
            return training.digest({"valid": [(x, "flipped" if f else "upright") for x, f in self.valid]})

        def settings(self) -> Dict[str, Any]:
            return {"cache": os.path.abspath(cache), "batch": batch, "valid_lines": len(self.valid),
                    "columns_per_verdict": COLUMNS, "convolutions_from": os.path.abspath(recognizer)}

    return UprightTask()


def main(argv: Optional[List[str]] = None) -> None:
    import torch

    from models import training
    from models.fots import reader

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", required=True, help="a line cache (python -m synth.lines)")
    parser.add_argument("--out", default=WEIGHTS, help="weights folder (default: %(default)s)")
    parser.add_argument("--recognizer", default=reader.WEIGHTS,
                        help="the reader whose line recogniser's convolutions it keeps (default: %(default)s)")
    parser.add_argument("--batch", type=training.count, default=64)
    parser.add_argument("--lr", type=training.positive, default=2e-3)
    parser.add_argument("--minutes", type=training.positive, default=10)
    parser.add_argument("--steps", type=training.count, default=None)
    parser.add_argument("--valid", type=training.count, default=100, help="validation lines per group")
    parser.add_argument("--valid-every", type=training.count, default=200)
    parser.add_argument("--log-every", type=training.count, default=50)
    training.bf16_option(parser)
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    args = parser.parse_args(argv)
    where = training.device()
    torch.manual_seed(0)
    model = build()
    model.take_convs(reader.load(args.recognizer)[0].lines)
    model = model.to(where)
    optimizer = torch.optim.AdamW(model.head.parameters(), lr=args.lr, weight_decay=1e-4)
    schedule = training.Schedule(lr=args.lr, minutes=args.minutes, steps=args.steps, warmup=50,
                                 bf16=training.use_bf16(args.bf16), log_every=args.log_every,
                                 valid_every=args.valid_every)
    training.fit(_task(args.cache, args.batch, args.valid, args.recognizer), model, optimizer, args.out, schedule,
                 resume=args.resume, where=where)


if __name__ == "__main__":
    sys.exit(main())
