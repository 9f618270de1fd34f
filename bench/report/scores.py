"""Per-row counts recomputed from the strings in samples.csv, with each run's own
normalisation (so runs of different settings are each scored as they were recorded), and
character confusions from the edit operations."""
from collections import Counter
from typing import Dict

import pandas as pd
from rapidfuzz.distance import Levenshtein

from bench import metrics

COUNT_COLUMNS = ["correct", "edits", "gt_len", "pred_len", "overlap"]


def score(samples: pd.DataFrame, normalize_by_run: Dict[tuple, dict]) -> pd.DataFrame:
    """samples plus the metrics.Counts columns and the normalised strings; each row with the
    normalisation of its run (keyed by device and run id); an error row is never correct."""
    out = samples.drop(columns=[c for c in COUNT_COLUMNS if c in samples.columns])
    gts, preds, rows = [], [], []
    for device, run_id, gt, pred, error in zip(out["device"], out["run_id"], out["gt"], out["pred"], out["error"]):
        norm = normalize_by_run.get((device, run_id), {})
        g, p = metrics.normalize(gt, **norm), metrics.normalize(pred, **norm)
        gts.append(g)
        preds.append(p)
        rows.append(metrics.counts(p, g, bool(error) and error == error))  # NaN: no error
    out["gt_norm"], out["pred_norm"] = gts, preds
    counts = pd.DataFrame(rows, columns=COUNT_COLUMNS, index=out.index)
    return pd.concat([out, counts], axis=1)


CELL = ["run_id", "engine", "mode", "device"]


def first_passes(scored: pd.DataFrame) -> pd.DataFrame:
    """Each image's row of its first recorded pass, per cell: what accuracy, its intervals
    and the paired tests count (further passes repeat the timing, not the evidence)."""
    return scored.sort_values("pass", kind="stable").drop_duplicates(CELL + ["sample_id"]).sort_index()


def unstable(scored: pd.DataFrame) -> pd.DataFrame:
    """Cells whose passes read some image differently: engine, mode, device, images, how many
    differ, and the first such image."""
    rows = []
    for (run, engine, mode, device), cell in scored.groupby(CELL, sort=False):
        if cell["pass"].nunique() < 2:
            continue
        readings = cell.groupby("sample_id", sort=False)["pred_norm"].nunique()
        differ = readings[readings > 1]
        if len(differ):
            rows.append({"engine": engine, "mode": mode, "device": device, "images": len(readings),
                         "differ": len(differ), "first": differ.index[0]})
    return pd.DataFrame(rows)


def confusions(scored: pd.DataFrame) -> Counter:
    """(true character, read character) -> how often one was substituted for the other."""
    found: Counter = Counter()
    for gt, pred in zip(scored["gt_norm"], scored["pred_norm"]):
        for op in Levenshtein.editops(gt, pred):
            if op.tag == "replace":
                found[(gt[op.src_pos], pred[op.dest_pos])] += 1
    return found


def top_confusions(found: Counter, k: int = 12) -> list:
    return [(a, b, n) for (a, b), n in found.most_common(k)]

