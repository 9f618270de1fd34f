"""What training the reader costs on this machine, measured: training steps of the line
recogniser (line crops per second, float32 and bfloat16 autocast), of the whole FOTS model
jointly on canvases (for comparison: what every recognition sample cost before), and how
fast the generators make lines for the line cache (synth/lines.py). Appends one JSON line
per figure to ``results/benchmarks/fots-training.jsonl``, with the machine's CPU and threads.

    python -m models.fots.throughput [--steps 20] [--codes 300] [--batch 32 64]

Lines come from a small cache rendered first (``--codes`` codes, the training mix), so that
their widths are those training sees; a step's lines are padded to the widest of its batch,
as in training.
"""
import argparse
import os
import platform
import tempfile
import time
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

from bench.benchmarks import record
from models import training
from models.fots import data, line_net, train, train_lines
from models.fots.net import FOTS, VOCAB
from synth import lines as synth_lines


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor()


def _timed(step, steps: int) -> float:
    """Median seconds of ``step()`` over ``steps`` calls, after two to warm up."""
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        step()
        times.append(time.perf_counter() - began)
    return float(np.median(times))


def line_steps(cache: str, batch: int, steps: int, bf16: bool) -> Dict[str, float]:
    """Line crops per second through a training step of the line recogniser."""
    task = train_lines.Batches(cache, batch, 0)
    batches = iter(task)
    model = line_net.LineRecognizer(len(VOCAB) + 1).to(memory_format=torch.channels_last)  # as training holds it
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    widths: List[int] = []

    def step() -> None:
        x, n, labels, lengths, _ = next(batches)
        widths.append(x.shape[-1])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            log_probs = model(x.contiguous(memory_format=torch.channels_last)).float()
        loss = F.ctc_loss(log_probs, labels, n, lengths, blank=0, zero_infinity=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    seconds = _timed(step, steps)
    return {"lines_per_s": round(batch / seconds, 1), "mean_batch_width": round(float(np.mean(widths)))}


def canvas_steps(batch: int, steps: int, bf16: bool) -> Dict[str, float]:
    """Canvases per second through a joint FOTS-B0 training step (detection and recognition
    on the shared features), the way the reader trained before its line recogniser."""
    frames = train.Frames(data.TRAIN_START, 10 ** 6, 0.3, 1.0)
    items = [frames[i] for i in range(batch)]
    images, scores, geometry, rois, labels, lengths = train.collate(items)
    model = FOTS("b0")
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = {k: v.float() for k, v in model(images, rois).items()}
        loss = train.detection_loss(out["score"], out["geometry"], scores, geometry) + \
            train.recognition_loss(out["rec"], labels, lengths)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return {"canvases_per_s": round(batch / _timed(step, steps), 1)}


def rendering(codes: int, styles: float) -> float:
    """Lines per second the generators make for the cache, in one process."""
    began, count = time.perf_counter(), 0
    for i in range(codes):
        count += len(synth_lines.line_samples(synth_lines.TRAIN_START + i, styles=styles))
    return count / (time.perf_counter() - began)


def main(argv: List[str] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps per figure")
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 64], help="lines per recognition step")
    parser.add_argument("--canvas-batch", type=int, default=16, help="canvases per joint FOTS step")
    parser.add_argument("--codes", type=int, default=300, help="codes rendered into the benchmark's line cache")
    parser.add_argument("--record", default=os.path.join("results", "benchmarks", "fots-training.jsonl"))
    args = parser.parse_args(argv)
    about = {"cpu": _cpu(), "threads": torch.get_num_threads(), "device": training.device(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as cache:
        synth_lines.write_cache(cache, synth_lines.TRAIN_START, args.codes)
        for batch in args.batch:
            for bf16 in (False, True):
                record(args.record, dict(about, what="line recogniser training step", batch=batch, bf16=bf16,
                                         steps=args.steps, **line_steps(cache, batch, args.steps, bf16)))
    for bf16 in (False, True):
        record(args.record, dict(about, what="joint FOTS-B0 training step", batch=args.canvas_batch, bf16=bf16,
                                 steps=max(3, args.steps // 4), **canvas_steps(args.canvas_batch, max(3, args.steps // 4),
                                                                              bf16)))
    for styles in (0.0, 1.0):
        record(args.record, dict(about, what="rendering lines for the cache", styles=styles,
                                 lines_per_s=round(rendering(max(20, args.codes // 5), styles), 1)))


if __name__ == "__main__":
    main()
