"""What each backbone costs at inference, for the backbone table: parameters, weight size
(fp16), time per image (features, detection and recognition of one line on the 128 x 512
canvas, median of timed runs after warm-up) and the peak memory of a process that does
only that. Each backbone runs in its own process, so peaks do not mix. Accuracy needs
trained weights: the harness measures it for the committed ones (B0). Appends to
``results/benchmarks/fots-backbones.jsonl``.

    python -m models.fots.backbones [--backbones b0,b1,b2,b3] [--runs 30]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time


def measure(backbone: str, runs: int, device: str) -> dict:
    import numpy as np
    import torch

    from models.fots.data import CANVAS_H, CANVAS_W
    from models.fots.net import FOTS

    model = FOTS(backbone).to(device).eval()
    images = torch.rand(1, 1, CANVAS_H, CANVAS_W, device=device)
    rois = torch.tensor([[0.0, 16.0, 40.0, 480.0, 80.0]], device=device)
    times = []
    with torch.no_grad():
        for i in range(runs + 5):
            t0 = time.perf_counter()
            feats = model.features(images)
            model.detect(feats)
            model.recognize(feats, rois)
            if device == "cuda":
                torch.cuda.synchronize()
            if i >= 5:
                times.append((time.perf_counter() - t0) * 1e3)
    params = sum(p.numel() for p in model.parameters())
    return {"backbone": backbone, "device": device, "params_m": round(params / 1e6, 2),
            "weights_mb_fp16": round(params * 2 / 2 ** 20, 1), "ms_per_image_p50": round(float(np.median(times)), 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
            "torch_threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbones", default="b0,b1,b2,b3")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--record", default=os.path.join("results", "benchmarks", "fots-backbones.jsonl"))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # in the child process: measure this one
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.runs, args.device)))
        return
    from bench.benchmarks import record

    for backbone in args.backbones.split(","):
        out = subprocess.run([sys.executable, "-m", "models.fots.backbones", "--one", backbone, "--runs", str(args.runs),
                              "--device", args.device], stdout=subprocess.PIPE, check=True, universal_newlines=True)
        record(args.record, json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
