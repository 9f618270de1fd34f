"""How fast training frames are made: frames per second of one process for each mix of the
two generators (``--styles`` 0: the benchmark's generator, 1: the printing styles, and the
training default between), and through training's own loader with its worker processes,
which bounds the steps a GPU can take. Appends to ``results/benchmarks/fots-training-data.jsonl``.

    python -m models.fots.throughput [--frames 200] [--workers N]
"""
import argparse
import os
import time

from torch.utils.data import DataLoader

from bench.benchmarks import record
from models.fots import data
from models.fots.train import Frames, collate


def one_process(styles: float, frames: int) -> float:
    """Frames per second made, with their targets, in this process (after 20 to warm the
    glyph caches)."""
    source = Frames(data.TRAIN_START, frames + 20, random_lines=0.3, styles=styles)
    for i in range(20):
        source[i]
    began = time.perf_counter()
    for i in range(20, frames + 20):
        source[i]
    return frames / (time.perf_counter() - began)


def through_loader(styles: float, frames: int, workers: int, batch: int) -> float:
    """Frames per second arriving as batches from training's DataLoader."""
    loader = DataLoader(Frames(data.TRAIN_START, frames + 4 * batch * workers, 0.3, styles), batch_size=batch,
                        collate_fn=collate, num_workers=workers, prefetch_factor=4)
    batches = iter(loader)
    for _ in range(workers):  # each worker's first batch: start-up, not throughput
        next(batches)
    began, count = time.perf_counter(), 0
    for images, *_ in batches:
        count += len(images)
        if count >= frames:
            break
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 2))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--record", default=os.path.join("results", "benchmarks", "fots-training-data.jsonl"))
    args = parser.parse_args()
    for styles in (0.0, 0.5, 1.0):
        record(args.record, {"styles": styles, "frames": args.frames, "workers": 0,
                             "frames_per_s": round(one_process(styles, args.frames), 1)})
        record(args.record, {"styles": styles, "frames": args.frames, "workers": args.workers, "batch": args.batch,
                             "frames_per_s": round(through_loader(styles, args.frames, args.workers, args.batch), 1)})


if __name__ == "__main__":
    main()
