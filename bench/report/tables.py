"""The report's tables, as numeric DataFrames (written as CSV) and formatted text (markdown
and LaTeX booktabs)."""
from typing import Dict, List, Optional

import pandas as pd

from bench.report.load import MODE_LABELS, MODE_ORDER, cell_label

REFERENCE_MARK = "†"
# (row label, summary.csv column, scale, reference column, decimals)
ENGINE_ROWS = [
    ("Strict accuracy (%)", "strict_acc", 100, "strict_acc_pct", 2),
    ("CER (%)", "cer", 100, "cer_pct", 2),
    ("Char. precision (%)", "char_precision", 100, "char_precision_pct", 2),
    ("Char. recall (%)", "char_recall", 100, "char_recall_pct", 2),
    ("Preprocess (ms)", "t_pre_ms", 1, None, 1),
    ("OCR (ms)", "t_infer_ms", 1, None, 1),
    ("  of which detection (ms)", "t_det_ms", 1, None, 1),
    ("  of which recognition (ms)", "t_rec_ms", 1, None, 1),
    ("Per sample (ms)", "t_total_ms", 1, "ms_per_sample", 1),
    ("Throughput (FPS)", "fps", 1, "fps", 2),
    ("Peak memory (MB)", "peak_rss_mb", 1, None, 0),
    ("System memory peak (MB)", "sys_peak_ram_mb", 1, None, 0),
    ("Energy per sample (mJ)", "energy_mj_per_sample", 1, None, 1),
]
DECIMALS = {label: d for label, _, _, _, d in ENGINE_ROWS}


def column_order(cells: pd.DataFrame, order: Optional[List[str]], devices: List[str]) -> List[str]:
    """Columns as the user orders them (``--order``), else by mode, then device."""
    labels = [cell_label(d, m) for d, m in zip(cells["device"], cells["mode"])]
    if order:
        rank = {label: i for i, label in enumerate(order)}
        return sorted(set(labels), key=lambda l: (rank.get(l, len(rank)), l))
    mode_rank = lambda m: MODE_ORDER.index(m) if m in MODE_ORDER else len(MODE_ORDER)  # noqa: E731
    pairs = sorted(set(zip(cells["device"], cells["mode"])),
                   key=lambda p: (mode_rank(p[1]), devices.index(p[0]) if p[0] in devices else len(devices)))
    return [cell_label(d, m) for d, m in pairs]


def engine_table(summary: pd.DataFrame, references: pd.DataFrame, engine: str,
                 order: Optional[List[str]], devices: List[str]) -> pd.DataFrame:
    """Rows: the published metrics; columns: this engine's ok cells, then its published ones."""
    cells = summary[(summary["engine"] == engine) & (summary["status"] == "ok")]
    columns: Dict[str, list] = {}
    for label in column_order(cells, order, devices):
        row = cells[[cell_label(d, m) == label for d, m in zip(cells["device"], cells["mode"])]].iloc[0]
        columns[label] = [row.get(col) * scale if pd.notna(row.get(col)) else None
                          for _, col, scale, _, _ in ENGINE_ROWS]
    for _, ref in references[references["engine"] == engine].iterrows():
        columns[ref["label"] + REFERENCE_MARK] = [ref[rcol] if rcol else None for _, _, _, rcol, _ in ENGINE_ROWS]
    return pd.DataFrame(columns, index=[label for label, _, _, _, _ in ENGINE_ROWS], dtype=float)


def _interval(value, lo, hi, scale: float, decimals: int) -> str:
    if pd.isna(value):
        return "–"
    text = "%.*f" % (decimals, value * scale)
    if lo is not None and pd.notna(lo):
        text += " [%.*f, %.*f]" % (decimals, lo * scale, decimals, hi * scale)
    return text


def cells_table(summary: pd.DataFrame, intervals: Dict[tuple, dict]) -> pd.DataFrame:
    """One row per engine x mode x device, every status, with 95% intervals."""
    rows = []
    for _, r in summary.iterrows():
        ci = intervals.get((r["engine"], r["mode"], r["device"]), {})
        rows.append({
            "Engine": r["engine"], "Models": model_name(r.get("model")), "Device": r["device"],
            "Mode": MODE_LABELS.get(r["mode"], r["mode"]), "Status": r["status"], "n": int(r["n"]) if r["n"] == r["n"] else "?",
            "Strict acc. % [95% CI]": _interval(r.get("strict_acc"), ci.get("acc_lo"), ci.get("acc_hi"), 100, 1),
            "CER % [95% CI]": _interval(r.get("cer"), ci.get("cer_lo"), ci.get("cer_hi"), 100, 1),
            "p50 ms [95% CI]": _interval(r.get("t_total_p50_ms"), ci.get("p50_lo"), ci.get("p50_hi"), 1, 1),
            "FPS": _interval(r.get("fps"), None, None, 1, 2),
            "Threads": _threads(r.get("threads")),
            "Peak MB": _interval(r.get("peak_rss_mb"), None, None, 1, 0),
            "Reason": r.get("reason") or "",
        })
    return pd.DataFrame(rows)


def model_name(value) -> str:
    """An engine's models as its adapter names them (summary.csv ``model``), '–' when unknown."""
    return "–" if value is None or pd.isna(value) or value == "" else str(value)


def engine_models(summary: pd.DataFrame, engine: str) -> str:
    """The models an engine's cells ran, for its heading: one name, or several where runs differ."""
    if "model" not in summary.columns:
        return ""
    names = sorted(set(model_name(v) for v in summary.loc[summary["engine"] == engine, "model"]) - {"–"})
    return ", ".join(names)


def stock_engine(engine: str, engines) -> Optional[str]:
    """The engine a fine-tuned one was made from, by name: ``easyocr`` for ``easyocr-codes``
    (the longest other engine whose name and a '-' begin this one's), or None."""
    found = [e for e in engines if e != engine and engine.startswith(e + "-")]
    return max(found, key=len) if found else None


def finetuned_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Each fine-tuned engine's ok cells (its adapter names its models "fine-tuned ...")
    beside its stock engine's on the same device and mode: exact, CER and p50 of each."""
    if "model" not in summary.columns:
        return pd.DataFrame()
    ok = summary[summary["status"] == "ok"]
    cell = {(r["engine"], r["device"], r["mode"]): r for _, r in ok.iterrows()}
    rows = []
    for (engine, device, mode), tuned in cell.items():
        stock = stock_engine(engine, set(summary["engine"]))
        if "fine-tuned" not in model_name(tuned.get("model")) or (stock, device, mode) not in cell:
            continue
        base = cell[(stock, device, mode)]
        rows.append({"Stock": stock, "Fine-tuned": engine, "Device": device, "Mode": MODE_LABELS.get(mode, mode),
                     "Strict % stock": "%.1f" % (100 * base["strict_acc"]),
                     "Strict % fine-tuned": "%.1f" % (100 * tuned["strict_acc"]),
                     "Gain (points)": "%+.1f" % (100 * (tuned["strict_acc"] - base["strict_acc"])),
                     "CER % stock": "%.1f" % (100 * base["cer"]), "CER % fine-tuned": "%.1f" % (100 * tuned["cer"]),
                     "p50 ms stock": _interval(base.get("t_total_p50_ms"), None, None, 1, 1),
                     "p50 ms fine-tuned": _interval(tuned.get("t_total_p50_ms"), None, None, 1, 1)})
    return pd.DataFrame(rows)


def grammar_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The ok cells read with a code grammar: raw and constrained scores side by side, the
    gain, the share of the gap to 100% it closes, and what it cost."""
    if "strict_acc_grammar" not in summary.columns:
        return pd.DataFrame()
    cells = summary[(summary["status"] == "ok") & summary["strict_acc_grammar"].notna()]
    rows = []
    for _, r in cells.iterrows():
        raw, constrained = r["strict_acc"] * 100, r["strict_acc_grammar"] * 100
        rows.append({
            "Engine": r["engine"], "Device": r["device"], "Mode": MODE_LABELS.get(r["mode"], r["mode"]),
            "Strict % raw": "%.1f" % raw, "Strict % grammar": "%.1f" % constrained,
            "Gain (points)": "%+.1f" % (constrained - raw),
            "Gap closed %": "%.0f" % (100 * (constrained - raw) / (100 - raw)) if raw < 100 else "–",
            "CER % raw": "%.1f" % (r["cer"] * 100), "CER % grammar": "%.1f" % (r["cer_grammar"] * 100),
            "Made wrong": "%d" % r["n_grammar_worse"], "Kept (too far)": "%d" % r["n_grammar_far"],
            "Grammar ms": "%.1f" % r["t_post_ms"] if pd.notna(r.get("t_post_ms")) else "–",
        })
    return pd.DataFrame(rows)


def reject_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The ok cells whose engine declined some readings (adapters.base.REJECT): how many
    samples were rejected, how many read wrong without a warning, and how many right."""
    if "n_rejected" not in summary.columns:
        return pd.DataFrame()
    cells = summary[(summary["status"] == "ok") & (summary["n_rejected"].fillna(0) > 0)]
    rows = []
    for _, r in cells.iterrows():
        n, rejected, wrong = int(r["n"]), int(r["n_rejected"]), int(r["n_wrong"])
        rows.append({"Engine": r["engine"], "Device": r["device"], "Mode": MODE_LABELS.get(r["mode"], r["mode"]),
                     "n": n, "Right": n - rejected - wrong, "Rejected": rejected, "Wrong, not rejected": wrong,
                     "Wrong among accepted %": "%.1f" % (100.0 * wrong / (n - rejected)) if n > rejected else "–"})
    return pd.DataFrame(rows)


def _threads(value) -> str:
    return "default" if pd.isna(value) else "%d" % value


def with_scenarios(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with a scenario on every row: runs of harnesses before scenarios were
    single-stream."""
    out = summary.copy()
    for column in ("scenario", "batch", "batched", "streams", "rate_fps", "threads", "throughput_ips", "on_time"):
        if column not in out.columns:
            out[column] = None
    out["scenario"] = out["scenario"].replace("", None).fillna("single-stream")
    out["throughput_ips"] = out["throughput_ips"].fillna(out["fps"]) if "fps" in out.columns else out["throughput_ips"]
    return out


def scenario_tables(summary: pd.DataFrame) -> Dict[str, pd.DataFrame]:
    """One throughput table per scenario of the ok cells (bench/scenarios.py), when any cell
    ran in a scenario other than single-stream: threads, batch, load, images per second,
    latency under that load, accuracy."""
    cells = with_scenarios(summary)
    cells = cells[cells["status"] == "ok"]
    if set(cells["scenario"]) <= {"single-stream"}:
        return {}
    number = lambda v, d=1: _interval(v, None, None, 1, d)  # noqa: E731
    out = {}
    for name in ("single-stream", "offline", "multi-stream"):
        rows = []
        for _, r in cells[cells["scenario"] == name].iterrows():
            row = {"Engine": r["engine"], "Device": r["device"], "Mode": MODE_LABELS.get(r["mode"], r["mode"]),
                   "Threads": _threads(r["threads"])}
            if name != "single-stream":
                batch = "%d" % r["batch"] if pd.notna(r["batch"]) else "–"
                row["Batch"] = batch + (" (one at a time: no batch path)" if r["batched"] == 0 and batch != "1" else "")
            if name == "multi-stream":
                row["Streams x fps"] = "%d x %s" % (r["streams"], number(r["rate_fps"], 3).rstrip("0").rstrip("."))
                row["Offered img/s"] = number(r["streams"] * r["rate_fps"])
                row["On time %"] = number(100 * r["on_time"])
            row.update({"Images/s": number(r["throughput_ips"]), "p50 ms": number(r["t_total_p50_ms"]),
                        "p99 ms": number(r["t_total_p99_ms"]), "Strict %": number(100 * r["strict_acc"])})
            rows.append(row)
        if rows:
            out[name] = pd.DataFrame(rows)
    return out


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """An engine table as text: each row with its decimals, '–' where there is no value."""
    out = table.copy().astype(object)
    for label in table.index:
        out.loc[label] = ["–" if pd.isna(v) else "%.*f" % (DECIMALS.get(label, 2), v) for v in table.loc[label]]
    return out


def to_markdown(table: pd.DataFrame, index: bool = True) -> str:
    """A markdown table; a '|' in a name or a reason is escaped, so it cannot end a cell."""
    bar = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    escaped = table.copy()
    escaped.columns = [bar(c) for c in escaped.columns]
    escaped.index = [bar(i) for i in escaped.index]
    return escaped.map(bar).to_markdown(index=index, disable_numparse=True)


LATEX_PART_COLUMNS = 3  # an engine table's cells per tabular: three fit a one-column page


def _lines(text: str) -> List[str]:
    """A cell's text in short lines: before its first space, the rest; a bracketed part
    (an interval, a dataset's name) on a line of its own."""
    if " [" in text:
        head, _, rest = text.partition(" [")
        inside, _, tail = rest.partition("]")
        return _lines(head) + ["[%s]" % inside] + ([tail.strip()] if tail.strip() else [])
    head, _, rest = text.partition(" ")
    return [head] + ([rest] if rest else [])


def _stacked(text: str) -> str:
    """A cell in lines (``_lines``: ``device`` over ``mode``, a value over its interval)."""
    lines = _lines(text)
    if len(lines) == 1:
        return _tex(lines[0])
    return r"\begin{tabular}[b]{@{}c@{}}%s\end{tabular}" % r"\\{}".join(_tex(line) for line in lines)


def to_latex(table: pd.DataFrame, caption: str, index: bool = True, part: Optional[int] = None,
             note: str = "") -> str:
    """A booktabs table for a one-column page of a paper: ``\small``, cells in two lines
    (``device`` over ``mode``, a value over its interval), the columns in tabulars of at most
    ``part`` columns one above the other, and ``note`` as a line under them. For a
    two-column paper's full width: ``table*`` instead of ``table`` (docs/reports.md)."""
    columns = list(table.columns)
    parts = [columns[i:i + part] for i in range(0, len(columns), part)] if part else [columns]
    lines = [r"\begin{table}[htbp]", r"\centering", r"\small", r"\setlength{\tabcolsep}{4pt}",
             r"\caption{%s}" % _tex(caption)]
    for k, chunk in enumerate(parts):
        if k:
            lines.append(r"\par\medskip")
        lines.append(r"\begin{tabular}{%s}" % (("l" if index else "") + "".join(
            "l" if table[c].map(lambda v: not _numeric(v)).any() else "r" for c in chunk)))
        lines.append(r"\toprule")
        lines.append(" & ".join(([""] if index else []) + [_stacked(str(c)) for c in chunk]) + r" \\")
        lines.append(r"\midrule")
        for label, row in table[chunk].iterrows():
            lines.append(" & ".join(([_tex(str(label))] if index else []) + [_stacked(str(v)) for v in row]) + r" \\")
        lines.append(r"\bottomrule")
        lines.append(r"\end{tabular}")
    if note:
        lines += [r"\par\smallskip", r"\parbox{\linewidth}{\footnotesize %s}" % _tex(note)]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _numeric(value) -> bool:
    text = str(value).split(" [")[0].replace("–", "").replace(",", "").strip()
    try:
        float(text or "0")
        return True
    except ValueError:
        return False


def headline_table(summary: pd.DataFrame, intervals: Dict[tuple, dict], front: set) -> pd.DataFrame:
    """The measured cells, best first (strict accuracy, then median latency): engine, mode,
    device, accuracy with its interval, CER, p50, peak memory; ``front``: the (engine, mode,
    device) cells on the accuracy-latency Pareto front, marked ★."""
    ok = summary[summary["status"] == "ok"].copy()
    ok = ok.assign(_acc=-ok["strict_acc"].fillna(-1), _p50=ok["t_total_p50_ms"].fillna(float("inf")))
    rows = []
    for _, r in ok.sort_values(["_acc", "_p50"]).iterrows():
        key = (r["engine"], r["mode"], r["device"])
        ci = intervals.get(key, {})
        rows.append({"": "★" if key in front else "", "Engine": r["engine"],
                     "Cell": cell_label(r["device"], r["mode"]),
                     "Strict % [95% CI]": _interval(r.get("strict_acc"), ci.get("acc_lo"), ci.get("acc_hi"), 100, 1),
                     "CER %": _interval(r.get("cer"), None, None, 100, 1),
                     "p50 ms": _interval(r.get("t_total_p50_ms"), None, None, 1, 1),
                     "Peak MB": _interval(r.get("peak_rss_mb"), None, None, 1, 0)})
    return pd.DataFrame(rows, columns=["", "Engine", "Cell", "Strict % [95% CI]", "CER %", "p50 ms", "Peak MB"])


def finetuned_latex(tuned: pd.DataFrame) -> pd.DataFrame:
    """``finetuned_table`` narrowed for a page: each figure as stock -> fine-tuned."""
    arrow = lambda a, b: "%s → %s" % (a, b)  # noqa: E731
    return pd.DataFrame({"Fine-tuned (stock)": ["%s (%s)" % (r["Fine-tuned"], r["Stock"]) for _, r in tuned.iterrows()],
                         "Cell": ["%s %s" % (r["Device"], r["Mode"]) for _, r in tuned.iterrows()],
                         "Strict %": [arrow(r["Strict % stock"], r["Strict % fine-tuned"]) for _, r in tuned.iterrows()],
                         "CER %": [arrow(r["CER % stock"], r["CER % fine-tuned"]) for _, r in tuned.iterrows()],
                         "p50 ms": [arrow(r["p50 ms stock"], r["p50 ms fine-tuned"]) for _, r in tuned.iterrows()]})


_TEX = {"\\": r"\textbackslash{}", "%": r"\%", "&": r"\&", "_": r"\_", "#": r"\#", "$": r"\$",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "†": r"$^\dagger$", "–": "--", "|": r"\textbar{}", "★": r"$\star$", "→": r"$\to$"}


def _tex(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)
