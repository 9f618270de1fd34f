"""Per-cell summary of a run: accuracy from the strings in samples.csv, latency from the
timed samples (errors count as wrong readings and have no latency), and the cell's outcome.

Accuracy counts images, not passes: with ``--passes N`` each image is scored once, on its
first recorded pass (further passes repeat the timing, not the evidence), and ``n`` is the
number of images; latency percentiles and throughput use every timed pass."""
import math
from typing import Any, Dict, List

import numpy as np

from adapters.base import CPU_MODES, REJECT
from bench import metrics
from bench.scenarios import Scenario


def cell_summary(engine: str, mode: str, info: Dict[str, Any], rows: List[Dict[str, str]],
                 normalize: Dict[str, bool]) -> Dict[str, Any]:
    norm = lambda s: metrics.normalize(s, **normalize)  # noqa: E731
    scored, raw, token, times = [], [], [], {"t_pre_ms": [], "t_infer_ms": [], "t_total_ms": []}
    constrained, worse, far, post = [], 0, 0, []
    with_grammar = any(row.get("grammar_far") not in (None, "") for row in rows)
    errors, timed = 0, []
    for row in rows:
        if row["error"]:
            errors += 1
            continue
        timed.append(row)
        for key in times:
            times[key].append(float(row[key]))
    rows = first_passes(rows)
    for row in rows:
        gt, pred, failed = norm(row["gt"]), norm(row["pred"]), bool(row["error"])
        scored.append(metrics.counts(pred, gt, failed))
        if with_grammar:  # an error row has no reading, constrained or not
            better = metrics.counts(norm(row.get("pred_grammar") or ""), gt, failed)
            constrained.append(better)
            worse += int(pred == gt and not better.correct)
            far += int(row.get("grammar_far") == "1")
            if row.get("t_post_ms"):
                post.append(float(row["t_post_ms"]))
        raw.append(metrics.counts(row["pred"], row["gt"], failed))
        token.append(metrics.code_token_counts(row["pred"], row["gt"], failed))
    out: Dict[str, Any] = {"engine": engine, "mode": mode, "status": info.get("status", "pending"),
                           "reason": info.get("reason", ""), "n": len(rows),
                           "n_errors": sum(1 for row in rows if row["error"]),
                           "peak_rss_mb": info.get("peak_rss_mb"), "model_mb": info.get("model_mb"),
                           "load_s": info.get("load_s"), "sys_peak_ram_mb": info.get("sys_peak_ram_mb"),
                           "mean_power_w": info.get("mean_power_w"), "model": info.get("model")}
    if rows:
        out.update(metrics.corpus(scored))
        out["strict_acc_raw"] = metrics.corpus(raw)["strict_acc"]
        tok = metrics.corpus(token)
        out["token_acc"], out["token_cer"] = tok["strict_acc"], tok["cer"]
        out["n_rejected"] = sum(REJECT in row["pred"] for row in rows)
        out["n_wrong"] = sum(not c.correct for c in scored) - out["n_rejected"]
    if constrained:
        scores = metrics.corpus(constrained)
        out.update(strict_acc_grammar=scores["strict_acc"], cer_grammar=scores["cer"], n_grammar_worse=worse,
                   n_grammar_far=far, t_post_ms=float(np.mean(post)) if post else None)
    total = np.array(times["t_total_ms"])
    if total.size:
        for key, values in times.items():
            out[key] = float(np.mean(values))
        for key in ("t_det_ms", "t_rec_ms"):
            staged = [float(row[key]) for row in timed if row.get(key) not in (None, "")]
            out[key] = float(np.mean(staged)) if staged else None
        p50, p90, p99 = np.percentile(total, [50, 90, 99])
        out.update(t_total_p50_ms=float(p50), t_total_p90_ms=float(p90), t_total_p99_ms=float(p99))
        # W x ms = mJ; a GPU board's power is no measure of a cell that runs on the CPU
        if out["mean_power_w"] is not None and (info.get("power_scope") != "gpu" or mode not in CPU_MODES):
            out["energy_mj_per_sample"] = out["mean_power_w"] * out["t_total_ms"]
    out.update(scenario_figures(info, timed, len(timed) + errors))
    return out


def first_passes(rows: List[Dict[str, str]]) -> List[Dict[str, str]]:
    """Each sample's row of its first recorded pass: the rows that accuracy counts."""
    first: Dict[Any, Dict[str, str]] = {}
    for i, row in enumerate(rows):
        key = row.get("sample_id", i)  # rows made without ids (tests' scenarios) count once each
        kept = first.get(key)
        if kept is None or int(row.get("pass") or 0) < int(kept.get("pass") or 0):
            first[key] = row
    return list(first.values())


def scenario_figures(info: Dict[str, Any], timed: List[Dict[str, str]], n: int) -> Dict[str, Any]:
    """The cell's scenario (bench/scenarios.py) and what the engine sustained in it.

    ``throughput_ips`` (also ``fps``): images read per second of the engine's time, each call's
    time (its samples' latency less their wait) shared among its images; in single-stream,
    1000 / mean latency. ``on_time`` (multi-stream): the share of all frames read before the
    next trigger; a frame that failed was not."""
    scenario = info.get("scenario") or {}
    name = scenario.get("name", "single-stream")
    out: Dict[str, Any] = {"scenario": name, "batch": scenario.get("batch", 1), "threads": info.get("threads"),
                           "batched": int(info["batched"]) if "batched" in info else None}
    if name == "multi-stream":
        out.update(streams=scenario["streams"], rate_fps=scenario["rate_fps"])
    busy_ms = sum((float(r["t_total_ms"]) - float(r.get("queue_ms") or 0.0)) / int(r.get("batch_n") or 1)
                  for r in timed)
    if busy_ms > 0:
        out["throughput_ips"] = out["fps"] = 1000.0 * len(timed) / busy_ms
    if name == "multi-stream" and n:
        period = Scenario(**scenario).period_ms
        out["on_time"] = sum(float(r["t_total_ms"]) <= period for r in timed) / n
    return out


def _cell(value: Any, scale: float = 1.0, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return "%.*f" % (digits, float(value) * scale)


def format_table(summary: List[Dict[str, Any]]) -> str:
    """The end-of-run table for the terminal."""
    header = ["engine", "mode", "status", "n", "acc%", "gram%", "tok%", "CER%", "prec%", "rec%",
              "p50 ms", "img/s", "RSS MB", "reason"]
    lines = [header]
    for r in summary:
        lines.append([r["engine"], r["mode"], r["status"], str(r["n"]), _cell(r.get("strict_acc"), 100),
                      _cell(r.get("strict_acc_grammar"), 100),
                      _cell(r.get("token_acc"), 100), _cell(r.get("cer"), 100),
                      _cell(r.get("char_precision"), 100), _cell(r.get("char_recall"), 100),
                      _cell(r.get("t_total_p50_ms")), _cell(r.get("throughput_ips"), 1, 2),
                      _cell(r.get("peak_rss_mb"), 1, 0), (r.get("reason") or "")[:70]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1] for line in lines)
