"""Uncertainty: percentile-bootstrap 95% intervals per cell, and McNemar's exact test for
two cells read on the same samples."""
from typing import Dict, Optional

import numpy as np
import pandas as pd
from scipy.stats import binomtest

BOOTSTRAP = 1000
CHUNK = 100  # resamples drawn at a time, to bound memory on large cells
MIN_SAMPLES = 30  # fewer: the interval is not reported, a warning says why


def _percentiles(values: np.ndarray) -> tuple:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap(cell: pd.DataFrame, resamples: int = BOOTSTRAP, seed: int = 0,
              times: Optional[pd.Series] = None) -> Dict[str, Optional[float]]:
    """95% intervals of strict accuracy and CER (corpus) over the cell's rows (one per image),
    and of the median total latency over ``times`` (every timed pass; default: the rows')."""
    out: Dict[str, Optional[float]] = {k: None for k in ("acc_lo", "acc_hi", "cer_lo", "cer_hi", "p50_lo", "p50_hi")}
    n = len(cell)
    if n < MIN_SAMPLES:
        return out
    rng = np.random.default_rng(seed)
    correct = cell["correct"].to_numpy(float)
    edits = cell["edits"].to_numpy(float)
    gt_len = cell["gt_len"].to_numpy(float)
    times = (cell["t_total_ms"] if times is None else times).dropna().to_numpy(float)
    acc, cer, p50 = [], [], []
    for start in range(0, resamples, CHUNK):
        m = min(CHUNK, resamples - start)
        idx = rng.integers(0, n, (m, n))
        acc.append(correct[idx].mean(axis=1))
        cer.append(edits[idx].sum(axis=1) / np.maximum(gt_len[idx].sum(axis=1), 1))
        if len(times) >= MIN_SAMPLES:
            p50.append(np.median(times[rng.integers(0, len(times), (m, len(times)))], axis=1))
    out["acc_lo"], out["acc_hi"] = _percentiles(np.concatenate(acc))
    out["cer_lo"], out["cer_hi"] = _percentiles(np.concatenate(cer))
    if p50:
        out["p50_lo"], out["p50_hi"] = _percentiles(np.concatenate(p50))
    return out


def mcnemar(a: pd.Series, b: pd.Series) -> Optional[dict]:
    """Exact McNemar test on samples both cells read (aligned on the index): p-value of
    'both read correctly equally often'. None when they share no sample."""
    both = pd.DataFrame({"a": a}).join(pd.DataFrame({"b": b}), how="inner")
    if both.empty:
        return None
    only_a = int(((both["a"] == 1) & (both["b"] == 0)).sum())
    only_b = int(((both["a"] == 0) & (both["b"] == 1)).sum())
    discordant = only_a + only_b
    p = binomtest(only_a, discordant, 0.5).pvalue if discordant else 1.0
    return {"n": len(both), "only_a": only_a, "only_b": only_b, "p": float(p)}
