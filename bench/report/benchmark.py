"""How long a report takes over a large result set (goal: 100,000 sample rows in under
10 s on a 2-core machine). Builds result folders by repeating a real run's rows under
several device names, times loading and writing the report, and appends the measurement
to ``results/benchmarks/report.jsonl``.

    python -m bench.report.benchmark [--source RUN_DIR] [--rows 100000]
"""
import argparse
import json
import os
import shutil
import tempfile
import time

import pandas as pd

from bench.benchmarks import record
from bench.report import document
from bench.report.load import find_runs, load


def build(source: str, rows: int, root: str) -> int:
    """Copies of ``source`` as devices dev-0, dev-1, ... with passes repeated until the
    copies hold ``rows`` sample rows together; returns the number written."""
    samples = pd.read_csv(os.path.join(source, "samples.csv"), keep_default_na=False)
    devices = 4
    per_device = rows // devices
    repeats = max(1, -(-per_device // max(1, len(samples))))
    written = 0
    for d in range(devices):
        folder = os.path.join(root, "dev-%d" % d, "run")
        shutil.copytree(source, folder)
        frames = [samples.assign(**{"pass": samples["pass"].astype(int) + k * 1000}) for k in range(repeats)]
        big = pd.concat(frames, ignore_index=True).head(per_device)
        big.to_csv(os.path.join(folder, "samples.csv"), index=False)
        with open(os.path.join(folder, "run.json")) as f:
            meta = json.load(f)
        meta["device"] = "dev-%d" % d
        with open(os.path.join(folder, "run.json"), "w") as f:
            json.dump(meta, f)
        written += len(big)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", help="a finished run folder (default: the latest under results/)")
    parser.add_argument("--rows", type=int, default=100000)
    parser.add_argument("--record", default=os.path.join("results", "benchmarks", "report.jsonl"))
    args = parser.parse_args()
    source = args.source or max(find_runs(["results"]), key=lambda p: os.path.getmtime(os.path.join(p, "run.json")))
    with tempfile.TemporaryDirectory() as tmp:
        rows = build(source, args.rows, os.path.join(tmp, "results"))
        t0 = time.perf_counter()
        results = load([os.path.join(tmp, "results")])
        t1 = time.perf_counter()
        document.write(results, os.path.join(tmp, "report"), None, None, "benchmark")
        t2 = time.perf_counter()
    record(args.record, {"rows": rows, "load_s": round(t1 - t0, 3), "report_s": round(t2 - t1, 3),
                         "total_s": round(t2 - t0, 3), "goal_s": 10.0, "source": source})


if __name__ == "__main__":
    main()
