"""Warnings a careful reader needs, found in the results themselves."""
from typing import Dict, List

import pandas as pd

from bench.report.load import Results, cell_label
from bench.report.stats import MIN_SAMPLES

# (mode, its higher-precision twin): a collapse is judged against the twin
TWINS = [("trt-fp16", "trt-fp32"), ("trt-int8", "trt-fp32"), ("trt-fp32", "gpu"), ("gpu", "cpu"), ("gpu-fp16", "gpu")]
COLLAPSE_CER_POINTS = 10.0  # CER worse by more than this many percentage points
COLLAPSE_ACC_POINTS = 10.0  # or strict accuracy lower by more than this


def collapses(cells: pd.DataFrame, published: bool = False) -> List[str]:
    """Modes whose accuracy collapses against their twin on the same device and engine.
    ``cells``: engine, device, mode, strict_acc, cer (fractions)."""
    found = []
    index = {(r.engine, r.device, r.mode): r for r in cells.itertuples()}
    for (engine, device, mode), cell in index.items():
        for low, high in TWINS:
            twin = index.get((engine, device, high))
            if mode != low or twin is None:
                continue
            d_cer = (cell.cer - twin.cer) * 100
            d_acc = (twin.strict_acc - cell.strict_acc) * 100
            if d_cer > COLLAPSE_CER_POINTS or d_acc > COLLAPSE_ACC_POINTS:
                found.append("%s%s on %s: %s reads far worse than %s (CER %.1f%% vs %.1f%%, strict accuracy "
                             "%.1f%% vs %.1f%%); check that mode's engine before trusting its speed."
                             % ("Published: " if published else "", engine, device, cell_label(device, mode),
                                cell_label(device, high), cell.cer * 100, twin.cer * 100,
                                cell.strict_acc * 100, twin.strict_acc * 100))
            break
    return found


def unstable_passes(cells: pd.DataFrame) -> List[str]:
    """A warning for each cell whose passes read some image differently."""
    return ["%s %s read %d of its %d images differently in different passes (the first: %s); its accuracy "
            "counts each image's first pass" % (r.engine, cell_label(r.device, r.mode), r.differ, r.images, r.first)
            for r in cells.itertuples()]


def sample_errors(ok: pd.DataFrame) -> List[str]:
    """A warning for the measured cells some of whose samples could not be read (an image
    missing or corrupt, a box outside it, the engine failing on it): they count as wrong.
    Cells with the same count and first reason share one line."""
    if "n_errors" not in ok.columns:
        return []
    groups: Dict[str, List[str]] = {}
    for r in ok.itertuples():
        errors = pd.to_numeric(r.n_errors, errors="coerce")
        if errors and errors > 0:  # the runner's reason: "K of N samples failed, first: ..."
            groups.setdefault(r.reason or "%d of %d samples failed" % (errors, r.n), []).append(
                "%s %s" % (r.engine, cell_label(r.device, r.mode)))
    return ["%s; they count as wrong: %s" % (reason, ", ".join(cells)) for reason, cells in groups.items()]


def warnings(results: Results, summary: pd.DataFrame, references: pd.DataFrame) -> List[str]:
    out: List[str] = []
    ok = summary[summary["status"] == "ok"]
    out += collapses(ok)
    if not references.empty:
        ref = references.assign(strict_acc=references["strict_acc_pct"] / 100, cer=references["cer_pct"] / 100)
        out += collapses(ref, published=True)
    for r in summary[summary["status"] == "failed"].itertuples():
        out.append("%s %s failed: %s" % (r.engine, cell_label(r.device, r.mode), r.reason or "no reason recorded"))
    skipped = summary[summary["status"] == "skipped"]
    if not skipped.empty:
        reasons: Dict[str, List[str]] = {}
        for r in skipped.itertuples():
            reasons.setdefault(r.reason or "no reason recorded", []).append("%s %s" % (r.engine, cell_label(r.device, r.mode)))
        out += ["skipped (%s): %s" % (reason, ", ".join(cells)) for reason, cells in reasons.items()]
    hashes = {run.meta["dataset"].get("content_sha256"): run for run in results.runs}
    if len(hashes) > 1:
        out.append("runs on different datasets are compared: " + "; ".join(
            "%s run %s: %s (%s…)" % (run.label, run.meta["run_id"], run.meta["dataset"].get("path"), (h or "?")[:12])
            for h, run in hashes.items()))
    out += sample_errors(ok)
    few = ok[ok["n"] < MIN_SAMPLES]
    for r in few.itertuples():
        out.append("%s %s has %d samples, fewer than %d: no 95%% interval is reported."
                   % (r.engine, cell_label(r.device, r.mode), r.n, MIN_SAMPLES))
    for run in results.runs:
        out += ["%s run %s: %s" % (run.label, run.meta["run_id"], w) for w in run.meta["dataset"].get("warnings") or []]
        if not run.meta.get("ended"):
            out.append("%s run %s did not finish (no end time); `--resume` it." % (run.label, run.meta["run_id"]))
        if (run.meta.get("fingerprint", {}).get("git") or {}).get("dirty"):
            out.append("%s run %s was made from uncommitted changes to the harness." % (run.label, run.meta["run_id"]))
    return out + results.notes
