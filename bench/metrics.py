"""Accuracy metrics, as the user defines them (docs/metrics.md).

- strict accuracy: share of samples whose normalised prediction equals the normalised truth;
- CER = (S + D + I) / N over the corpus: summed Levenshtein distances over summed truth lengths;
- character precision / recall: characters as items; the multiset overlap of prediction and
  truth, over all predicted / all true characters of the corpus.

Normalisation is explicit and recorded with every run: by default Unicode NFKC folds
compatibility forms (a full-width ``：`` is ``:``), whitespace is removed (engines split
boxes and put spaces around ``:``) and case is kept. Runner side: Python 3.6, rapidfuzz (2.11 on 3.6).
"""
import re
import unicodedata
from collections import Counter
from typing import Dict, Iterable, List, NamedTuple

from rapidfuzz.distance import Levenshtein

_WHITESPACE = re.compile(r"\s+")
_CODE_RUN = re.compile(r"[0-9A-Za-z]+")


def normalize(text: str, nfkc: bool = True, strip_whitespace: bool = True, casefold: bool = False) -> str:
    if nfkc:
        text = unicodedata.normalize("NFKC", text)
    if strip_whitespace:
        text = _WHITESPACE.sub("", text)
    return text.upper() if casefold else text


class Counts(NamedTuple):
    """Per-sample counts from which every corpus metric is summed."""

    correct: int  # 1 if the strings match exactly
    edits: int  # Levenshtein distance S + D + I
    gt_len: int  # N
    pred_len: int
    overlap: int  # characters shared as a multiset


def counts(pred: str, gt: str, failed: bool = False) -> Counts:
    """One reading's counts; ``failed``: the sample could not be read (an error row), never
    correct, whatever its label (an empty label equals the empty reading)."""
    overlap = sum((Counter(pred) & Counter(gt)).values())
    return Counts(int(pred == gt and not failed), Levenshtein.distance(pred, gt), len(gt), len(pred), overlap)


def sample_cer(c: Counts) -> float:
    """One sample's CER; an empty truth scores 0 if nothing was read, else 1."""
    if c.gt_len:
        return c.edits / c.gt_len
    return 0.0 if c.edits == 0 else 1.0


def corpus(all_counts: Iterable[Counts]) -> Dict[str, float]:
    """strict_acc, cer, char_precision, char_recall over a corpus (NaN if it is empty)."""
    items = list(all_counts)
    total = lambda field: sum(getattr(c, field) for c in items)  # noqa: E731
    nan = float("nan")
    gt_len, pred_len, overlap = total("gt_len"), total("pred_len"), total("overlap")
    return {
        "strict_acc": total("correct") / len(items) if items else nan,
        "cer": total("edits") / gt_len if gt_len else nan,
        "char_precision": overlap / pred_len if pred_len else (nan if not items else 0.0),
        "char_recall": overlap / gt_len if gt_len else nan,
    }


def code_candidates(pred: str) -> List[str]:
    """Code-like tokens of a raw reading: runs of letters and digits, and each run joined
    with its following runs (a plate read as ``ABC 123`` or ``ABC-123``)."""
    runs = _CODE_RUN.findall(pred)
    return ["".join(runs[i:j]) for i in range(len(runs)) for j in range(i + 1, len(runs) + 1)]


def code_token_counts(pred: str, gt: str, failed: bool = False) -> Counts:
    """Counts after reducing both strings to letters and digits and the reading to its
    candidate closest to the truth: an oracle choice, so an upper bound on what a code
    grammar or a whitelist would keep. Scores plates whose crops show other text."""
    target = "".join(_CODE_RUN.findall(gt))
    best = min(code_candidates(pred), key=lambda c: Levenshtein.distance(c, target), default="")
    return counts(best, target, failed)
