"""What the background telemetry costs the measurement: the same cell run with the sampler
off and on, alternately (off, on, off, on, ...), so that drift in the machine hits both;
compares the medians of per-sample total time and appends the result to
``results/benchmarks/telemetry.jsonl``.

    python -m bench.telemetry_benchmark [--engine tesseract] [--limit 100] [--rounds 3]
"""
import argparse
import os
import statistics
import tempfile
from typing import Dict, List

from bench import config as cfg
from bench import launch
from bench.benchmarks import record
from bench.results import read_samples


def one_run(engine: str, mode: str, limit: int, interval: float, results: str) -> List[float]:
    """Per-sample total times (ms) of one run of ``engine/mode`` over the embedded dataset."""
    suite = cfg.read_suite(cfg.DEFAULT_SUITE)
    config = cfg.build(suite, {"limit": limit, "warmup": 5, "results": results, "telemetry_interval_s": interval})
    cfg.select(config, [engine], [mode])
    current = launch.start(config, quiet=True)
    current.execute()
    return [float(s["t_total_ms"]) for s in read_samples(os.path.join(current.dir, "samples.csv")) if s["t_total_ms"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", default="tesseract")
    parser.add_argument("--mode", default="cpu")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--interval", type=float, default=cfg.DEFAULTS["telemetry_interval_s"])
    parser.add_argument("--record", default=os.path.join("results", "benchmarks", "telemetry.jsonl"))
    args = parser.parse_args()
    times: Dict[str, List[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for state, interval in (("off", 0.0), ("on", args.interval)):
                times[state] += one_run(args.engine, args.mode, args.limit, interval, tmp)
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    record(args.record, {"cell": "%s/%s" % (args.engine, args.mode), "samples_each": len(times["off"]),
                         "interval_s": args.interval, "p50_off_ms": round(off, 2), "p50_on_ms": round(on, 2),
                         "overhead_pct": round(100 * (on - off) / off, 2)})


if __name__ == "__main__":
    main()
