"""Reading result folders (``results/<device>/<run-id>/``), read-only, with clear messages
for folders that are not runs, come from another version of the harness, or lack columns."""
import io
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

SAMPLE_NEEDS = ["engine", "mode", "sample_id", "pass", "gt", "pred", "t_pre_ms", "t_infer_ms",
                "t_total_ms", "error"]
SUMMARY_NEEDS = ["engine", "mode", "status", "reason", "n"]
OK_NEEDS = ["strict_acc", "cer", "t_total_ms", "t_total_p50_ms"]  # what a measured (ok) cell's row must have
MODE_ORDER = ["cpu", "onnx-cpu", "gpu", "gpu-fp16", "trt", "trt-fp32", "trt-fp16", "trt-int8"]
MODE_LABELS = {"cpu": "CPU", "gpu": "GPU", "gpu-fp16": "GPU FP16", "trt": "TRT", "trt-fp32": "TRT FP32",
               "trt-fp16": "TRT FP16", "trt-int8": "TRT INT8", "onnx-cpu": "ONNX CPU"}


class ReportError(Exception):
    """A result folder cannot be used; the message names it and says why."""


@dataclass
class Run:
    folder: str
    meta: dict
    label: str  # the device's name in the report
    samples: pd.DataFrame
    summary: pd.DataFrame
    notes: List[str] = field(default_factory=list)  # what was wrong in its files, named


@dataclass
class Results:
    runs: List[Run]
    notes: List[str] = field(default_factory=list)  # what loading had to decide, for the reader

    @property
    def samples(self) -> pd.DataFrame:
        return pd.concat([r.samples for r in self.runs], ignore_index=True)

    @property
    def summary(self) -> pd.DataFrame:
        return pd.concat([r.summary for r in self.runs], ignore_index=True)


RUN_FILES = ("samples.csv", "summary.csv", "cells.json")  # a folder with any of them but no run.json: a broken run


def find_runs(paths: List[str], notes: Optional[List[str]] = None) -> List[str]:
    """Every folder holding a run.json, under the given folders (or the folders themselves).
    A folder with a run's other files but no run.json is left out with a note in ``notes``."""
    found = []
    for path in paths:
        if not os.path.exists(path):
            raise ReportError("%s: no such file or folder" % path)
        if os.path.isfile(os.path.join(path, "run.json")):
            found.append(path)
            continue
        for dirpath, dirnames, files in os.walk(path):
            dirnames.sort()
            if "run.json" in files:
                found.append(dirpath)
                dirnames[:] = []
            elif notes is not None and any(name in files for name in RUN_FILES):
                notes.append("%s: holds %s but no run.json, so it is left out of this report (a run copied in "
                             "part? copy its run.json too)" % (dirpath, ", ".join(n for n in RUN_FILES if n in files)))
    if not found:
        raise ReportError("no result folder (with run.json) under %s" % ", ".join(paths))
    return found


TEXT_COLUMNS = {"run_id", "device", "engine", "mode", "sample_id", "gt", "pred", "error", "status", "reason", "scenario",
                "pred_grammar", "model"}


def _read_csv(path: str, needs: List[str], what: str, notes: List[str]) -> pd.DataFrame:
    """Every column as text, then the numeric ones as numbers (empty cells: NaN). A last line
    cut short (a killed writer) is left out and a value that should be a number and is not
    is read as missing, each with a note in ``notes`` naming the file."""
    if not os.path.isfile(path):
        raise ReportError("%s: missing; is this a finished run of this harness?" % path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise ReportError("%s: unreadable %s (%s)" % (path, what, exc))
    if text and not text.endswith("\n"):
        lines = text.count("\n")
        notes.append("%s: its last line (line %d) is cut short, as a killed run leaves it; that row is left out "
                     "(`--resume` the run to measure it again)" % (path, lines + 1))
        text = text[:text.rfind("\n") + 1]
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ReportError("%s: unreadable %s (%s)" % (path, what, " ".join(str(exc).split())))
    missing = [c for c in needs if c not in frame.columns]
    if missing:
        raise ReportError("%s: lacks column(s) %s; written by another version of the harness? "
                          "(has: %s)" % (path, ", ".join(missing), ", ".join(frame.columns)))
    for column in frame.columns:
        if column not in TEXT_COLUMNS:
            numbers = pd.to_numeric(frame[column], errors="coerce")
            bad = frame[column][numbers.isna() & (frame[column].str.strip() != "")]
            if len(bad):
                notes.append("%s: column %s has %d value(s) that are not numbers (the first, %r, on line %d); "
                             "read as missing" % (path, column, len(bad), bad.iloc[0], int(bad.index[0]) + 2))
            frame[column] = numbers
    return frame


def load_run(folder: str, aliases: Dict[str, str]) -> Run:
    try:
        with open(os.path.join(folder, "run.json"), encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as exc:
        raise ReportError("%s: unreadable run.json (%s)" % (folder, exc))
    for key in ("run_id", "device", "dataset", "config"):
        if key not in meta:
            raise ReportError("%s/run.json: lacks %r; written by another version of the harness?" % (folder, key))
    cells_json = os.path.join(folder, "cells.json")
    if os.path.isfile(cells_json):  # each cell's environment, for the provenance section
        with open(cells_json, encoding="utf-8") as f:
            meta["cells"] = json.load(f)
    label = aliases.get(meta["device"], meta["device"])
    notes: List[str] = []
    samples = _read_csv(os.path.join(folder, "samples.csv"), SAMPLE_NEEDS, "samples", notes)
    summary = _read_csv(os.path.join(folder, "summary.csv"), SUMMARY_NEEDS, "summary", notes)
    lacking = [c for c in OK_NEEDS if c not in summary.columns]
    if lacking and (summary["status"] == "ok").any():
        raise ReportError("%s: lacks column(s) %s, which its ok cells need; written by another version of the "
                          "harness, or edited? (has: %s)" % (os.path.join(folder, "summary.csv"), ", ".join(lacking),
                                                           ", ".join(summary.columns)))
    for column in lacking:  # a run whose cells all skipped or failed: nothing measured to show
        summary[column] = np.nan
    for frame in (samples, summary):
        frame["device"] = label
        frame["run_id"] = meta["run_id"]
    return Run(folder, meta, label, samples, summary, notes)


def load(paths: List[str], aliases: Optional[Dict[str, str]] = None) -> Results:
    """All runs under the paths. Where two runs of one device on one dataset cover the same
    engine x mode, the later run's cell is kept and a note says so. When the runs used
    several datasets, each device's label names its dataset."""
    skipped: List[str] = []
    found = []
    for folder in find_runs(paths, skipped):
        absent = [name for name in ("samples.csv", "summary.csv") if not os.path.isfile(os.path.join(folder, name))]
        if absent:  # a run killed before its first cell ended, beside others: report the rest
            skipped.append("%s: no %s yet, as a run stopped before its first cell ended leaves it; that run is left "
                           "out of this report (`--resume` it)" % (folder, " or ".join(absent)))
            continue
        found.append(load_run(folder, aliases or {}))
    if not found:
        raise ReportError("no run here can be reported: %s" % "; ".join(skipped))
    runs = sorted(found, key=lambda r: (r.meta.get("started") or "", r.meta["run_id"]))
    notes = skipped + [note for run in runs for note in run.notes]
    devices = sorted({run.meta["device"] for run in runs})
    notes += ["--alias %s=%s names no device of these runs (they are %s): it is not used"
              % (device, label, ", ".join(devices)) for device, label in (aliases or {}).items() if device not in devices]
    if len({r.meta["dataset"].get("content_sha256") for r in runs}) > 1:
        for run in runs:  # several datasets: name each device's dataset, so cells stay apart
            name = os.path.basename(os.path.dirname(run.meta["dataset"].get("path") or "")) or "?"
            run.label = "%s [%s]" % (run.label, name)
            run.summary["device"] = run.label
            run.samples["device"] = run.label
    seen: Dict[tuple, str] = {}
    for run in reversed(runs):  # newest first: it wins
        keep = []
        for engine, mode, status in zip(run.summary["engine"], run.summary["mode"], run.summary["status"]):
            key = (run.label, engine, mode)
            keep.append(key not in seen)
            if key in seen and status != "skipped":
                notes.append("%s %s/%s: run %s superseded by the later run %s"
                             % (run.label, engine, mode, run.meta["run_id"], seen[key]))
            seen.setdefault(key, run.meta["run_id"])
        run.summary = run.summary.loc[np.array(keep, dtype=bool)].reset_index(drop=True)
        cells = set(zip(run.summary["engine"], run.summary["mode"]))
        # a boolean array, not a list: an empty list would select no columns rather than no rows
        run.samples = run.samples.loc[np.array([c in cells for c in zip(run.samples["engine"], run.samples["mode"])],
                                               dtype=bool)]
    return Results(runs, notes)


def cell_label(device: str, mode: str) -> str:
    return "%s %s" % (device, MODE_LABELS.get(mode, mode))
