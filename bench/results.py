"""The files of one run, ``results/<device>/<run-id>/``:

- ``samples.csv``: one row per sample and pass, appended and flushed as each is measured;
- ``summary.csv``: one row per engine x mode cell, rewritten after every cell;
- ``run.json``: device fingerprint, software, git commit, dataset hashes, config, times;
- ``cells.json``: each cell's outcome and environment; ``logs/<engine>-<mode>.log``: stderr;
- ``telemetry.csv``: memory, GPU, power and temperature samples during the run.
"""
import csv
import json
import os
from typing import Any, Dict, Iterable, List, Set, Tuple

SAMPLE_COLUMNS = ["run_id", "device", "engine", "mode", "sample_id", "pass", "gt", "pred", "correct",
                  "cer", "t_pre_ms", "t_infer_ms", "t_total_ms", "error",
                  # the code grammar's reading (bench/grammar.py), timed apart: empty without a grammar
                  "pred_grammar", "correct_grammar", "grammar_far", "t_post_ms",
                  # the scenario's (bench/scenarios.py): images in the call that read it, wait before that call
                  "batch_n", "queue_ms",
                  # the engine's own timing of its stages within t_infer_ms, where it has them (adapters.base)
                  "t_det_ms", "t_rec_ms"]
SUMMARY_COLUMNS = ["engine", "mode", "status", "reason", "n", "strict_acc", "cer", "char_precision",
                   "char_recall", "t_pre_ms", "t_infer_ms", "t_total_ms", "t_total_p50_ms",
                   "t_total_p90_ms", "t_total_p99_ms", "fps", "peak_rss_mb", "model_mb",
                   # beyond the list: raw (unnormalised) and code-token scores, errors
                   "strict_acc_raw", "token_acc", "token_cer", "n_errors", "load_s",
                   # from telemetry.csv: system-wide peak memory, mean power, energy
                   "sys_peak_ram_mb", "mean_power_w", "energy_mj_per_sample",
                   # with a code grammar: the constrained reading's scores, readings it made wrong, kept as too far
                   "strict_acc_grammar", "cer_grammar", "n_grammar_worse", "n_grammar_far", "t_post_ms",
                   # readings an engine marked as not sure (adapters.base.REJECT), and wrong ones it did not
                   "n_rejected", "n_wrong",
                   # how samples were fed (bench/scenarios.py) and on how many CPU threads (empty: the engine's default)
                   "scenario", "batch", "batched", "streams", "rate_fps", "threads", "throughput_ips", "on_time",
                   # the engine's models as it names them, and its stages' mean times where it times them
                   "model", "t_det_ms", "t_rec_ms"]
SampleKey = Tuple[str, str, int, str]  # engine, mode, pass, sample_id


def _repair_tail(path: str) -> None:
    """Drop a last line cut short by a kill (no trailing newline)."""
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)


class SampleLog:
    """samples.csv: append-only, one flushed line per sample."""

    def __init__(self, path: str) -> None:
        self.path = path
        fresh = not os.path.exists(path) or os.path.getsize(path) == 0
        columns = SAMPLE_COLUMNS
        if not fresh:
            _repair_tail(path)
            with open(path, newline="", encoding="utf-8") as f:  # a run begun by an older harness keeps its columns
                columns = next(csv.reader(f), None) or SAMPLE_COLUMNS
        self._file = open(path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, columns, lineterminator="\n", extrasaction="ignore")
        if fresh:
            self._writer.writeheader()
            self._file.flush()

    def write(self, row: Dict[str, Any]) -> None:
        try:
            self._writer.writerow(row)
            self._file.flush()
        except OSError as exc:  # a full disk: name the file the runner could not write
            raise OSError(exc.errno, exc.strerror, self.path)

    def close(self) -> None:
        self._file.close()


def read_samples(path: str) -> List[Dict[str, str]]:
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [row for row in csv.DictReader(f) if row.get("t_total_ms") is not None]


def done_keys(rows: Iterable[Dict[str, str]]) -> Set[SampleKey]:
    return {(r["engine"], r["mode"], int(r["pass"]), r["sample_id"]) for r in rows}


def write_json(path: str, data: Any) -> None:
    """Atomically: a kill leaves the old file or the new one, never half of one."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path: str, default: Any = None) -> Any:
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_summary(path: str, rows: List[Dict[str, Any]]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, SUMMARY_COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(v) for k, v in row.items()})
    os.replace(tmp, path)


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return "" if value != value else "%.6g" % value  # NaN -> empty cell
    return "" if value is None else value
