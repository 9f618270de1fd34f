"""Assembles ``report.md`` with its tables (also as CSV and LaTeX) and plots."""
import datetime
import os
from typing import Dict, List, Optional

import pandas as pd

from bench.report import checks, plots, scores, stats, tables
from bench.report.load import ReportError, Results, cell_label

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUBLISHED = os.path.join(REPO, "reports", "published")
REFERENCE_NOTE = ("† Published figures (%s), shown for context: their datasets are real product-code "
                  "photographs, not ours, so they are not a like-for-like comparison.")


REFERENCE_COLUMNS = ["engine", "label", "device", "mode", "strict_acc_pct", "cer_pct", "char_precision_pct",
                     "char_recall_pct", "ms_per_sample", "fps", "source"]


def read_references(path: Optional[str]) -> pd.DataFrame:
    """The published figures of ``--references``; ReportError naming the option and the file
    when it is missing, not CSV, or lacks the columns."""
    if not path:
        return pd.DataFrame(columns=REFERENCE_COLUMNS)
    if not os.path.isfile(path):
        raise ReportError("--references: no such file: %s" % path)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ReportError("--references %s: not a readable CSV (%s)" % (path, " ".join(str(exc).split())))
    missing = [c for c in REFERENCE_COLUMNS if c not in frame.columns]
    if missing:
        raise ReportError("--references %s: lacks column(s) %s (has: %s)" % (path, ", ".join(missing),
                                                                           ", ".join(map(str, frame.columns))))
    return frame


def _paired(scored: pd.DataFrame, summary: pd.DataFrame, hashes: Dict[tuple, str]) -> pd.DataFrame:
    """McNemar tests for cells that read the same images of the same dataset (``scored``: one
    row per image): within an engine across modes and devices, and across engines within a
    device and mode."""
    ok = summary[summary["status"] == "ok"]
    keyed = scored.assign(key=scored["sample_id"],
                          dataset=[hashes.get(k) for k in zip(scored["device"], scored["run_id"])])
    series = {(e, m, d): g.set_index("key")["correct"] for (e, m, d), g in keyed.groupby(["engine", "mode", "device"])}
    datasets = {(e, m, d): set(g["dataset"]) for (e, m, d), g in keyed.groupby(["engine", "mode", "device"])}
    cells = [(r.engine, r.mode, r.device) for r in ok.itertuples() if (r.engine, r.mode, r.device) in series]
    rows = []
    for i, a in enumerate(cells):
        for b in cells[i + 1:]:
            same_engine = a[0] == b[0]
            same_setting = a[1:] == b[1:]
            if not (same_engine or same_setting) or datasets[a] != datasets[b]:
                continue
            test = stats.mcnemar(series[a], series[b])
            if test is None:
                continue
            rows.append({"A": "%s %s" % (a[0], cell_label(a[2], a[1])), "B": "%s %s" % (b[0], cell_label(b[2], b[1])),
                         "shared samples": test["n"], "only A right": test["only_a"],
                         "only B right": test["only_b"], "p (McNemar)": "%.3g" % test["p"],
                         "differs beyond chance (p < 0.05)": "yes" if test["p"] < 0.05 else "no"})
    return pd.DataFrame(rows)


def gpu_text(gpu: Dict[str, str]) -> str:
    """'NAME (driver D, CUDA C, SM clock max S, power limit P)', with what the run recorded."""
    parts = ["%s %s" % (label, gpu[key]) for key, label in (
        ("driver", "driver"), ("cuda_driver", "CUDA"), ("sm_clock_max", "SM clock max"), ("power_limit", "power limit"))
        if gpu.get(key)]
    return "%s (%s)" % (gpu.get("name"), ", ".join(parts))


def _provenance(results: Results) -> List[str]:
    lines = []
    for run in results.runs:
        m = run.meta
        fp = m.get("fingerprint", {})
        cpu = fp.get("cpu", {})
        gpus = ", ".join(gpu_text(g) for g in fp.get("gpus") or []) or "none"
        jetson = fp.get("jetson") or {}
        git = fp.get("git") or {}
        data = m.get("dataset", {})
        lines += ["### %s — run %s" % (run.label, m["run_id"]), "",
                  "- device: `%s`%s; CPU %s (%s cores, %s); memory %s GB; GPU: %s"
                  % (m["device"], ", %s, %s" % (jetson.get("model"), jetson.get("l4t")) if jetson else "",
                     cpu.get("model"), cpu.get("cores"), cpu.get("arch"), fp.get("memory_gb"), gpus),
                  "- OS %s, kernel %s, Python %s; runner packages: %s"
                  % (fp.get("os"), fp.get("kernel"), fp.get("python"),
                     ", ".join("%s %s" % kv for kv in sorted((fp.get("packages") or {}).items()))),
                  "- harness commit `%s`%s; started %s, ended %s"
                  % (git.get("commit"), " (uncommitted changes)" if git.get("dirty") else "", m.get("started"), m.get("ended")),
                  "- dataset `%s`: %s samples, manifest sha256 `%s`, content sha256 `%s`; warm-up: %s"
                  % (data.get("path"), data.get("samples"), (data.get("manifest_sha256") or "")[:16],
                     (data.get("content_sha256") or "")[:16], data.get("warmup_image")),
                  "- settings: preprocess `%s`, grayscale %s, crop %s, warm-up %s, passes %s, normalise %s"
                  % tuple(m["config"].get(k) for k in ("preprocess", "grayscale", "crop", "warmup", "passes", "normalize"))]
        for key, cell in sorted((m.get("cells") or {}).items()):
            env = cell.get("env") or {}
            if env:
                lines.append("- %s: Python %s, %s" % (key, env.get("python"), ", ".join(
                    "%s %s" % kv for kv in sorted((env.get("packages") or {}).items()))))
        lines.append("")
    return lines


def headline_front(ok: pd.DataFrame) -> set:
    """The (engine, mode, device) cells on the Pareto front of strict accuracy against p50."""
    cells = ok.dropna(subset=["t_total_p50_ms", "strict_acc"])
    points = {(r.t_total_p50_ms, r.strict_acc * 100): (r.engine, r.mode, r.device) for r in cells.itertuples()}
    return {points[p] for p in plots.pareto_front(list(points))}


def write(results: Results, out: str, references_path: Optional[str], order: Optional[List[str]],
          title: str) -> str:
    """Write the report folder; return report.md's path."""
    os.makedirs(os.path.join(out, "tables"), exist_ok=True)
    summary = results.summary
    devices = list(dict.fromkeys(run.label for run in results.runs))
    engines = list(dict.fromkeys(summary["engine"]))
    references = read_references(references_path)
    # by device and run id: runs started in the same second on two hosts share a run id
    normalize = {(run.label, run.meta["run_id"]): run.meta["config"].get("normalize", {}) for run in results.runs}
    hashes = {(run.label, run.meta["run_id"]): run.meta["dataset"].get("content_sha256") for run in results.runs}
    every_pass = scores.score(results.samples, normalize)
    scored = scores.first_passes(every_pass)  # accuracy, intervals and paired tests count images
    times = {key: group["t_total_ms"] for key, group in every_pass.groupby(["engine", "mode", "device"])}
    intervals = {key: stats.bootstrap(group, times=times[key])
                 for key, group in scored.groupby(["engine", "mode", "device"])}
    ok = summary[summary["status"] == "ok"]
    source = references["source"].iloc[0] if not references.empty else ""

    md = ["# %s" % title, "",
          "Generated %s from %d run(s) on %s. Metrics are defined in the harness's docs/metrics.md; "
          "intervals are 95%% percentile-bootstrap intervals over images (%d resamples); accuracy, its "
          "intervals and the paired tests count each image once (its first pass), latency uses every timed pass."
          % (datetime.date.today().isoformat(), len(results.runs), ", ".join(devices), stats.BOOTSTRAP), ""]
    front = headline_front(ok)
    headline = tables.headline_table(summary, intervals, front)
    headline.to_csv(os.path.join(out, "tables", "headline.csv"), index=False)
    not_measured = int((summary["status"] != "ok").sum())
    with open(os.path.join(out, "tables", "headline.tex"), "w") as f:
        f.write(tables.to_latex(headline, "Measured cells, best first", index=False, note=(
            "Strict accuracy with its 95%% bootstrap interval; p50: median time per sample; peak resident memory. "
            "★: on the accuracy-latency Pareto front. %d cells not measured (skipped or failed), with their "
            "reasons in the report." % not_measured)))
    md += ["## Headline", "",
           "The measured cells, best first (strict accuracy, then median latency); ★: on the Pareto front "
           "of accuracy against latency (no other cell both faster and at least as accurate). %d cells were not "
           "measured: their reasons are under Warnings." % not_measured, "",
           tables.to_markdown(headline, index=False), "", "![Accuracy against latency](accuracy_latency.png)", ""]
    warns = checks.warnings(results, summary, references) + checks.unstable_passes(scores.unstable(every_pass))
    if order:  # a label that names no column (a typo) would be ordered silently last
        known = set(tables.column_order(ok, None, devices))
        unknown = [label for label in order if label not in known]
        if unknown:
            warns.append("--order names %s, which no table has (its columns: %s)"
                         % (", ".join(repr(u) for u in unknown), ", ".join(sorted(known))))
    md += ["## Warnings", ""] + (["- " + w for w in warns] if warns else ["None."]) + [""]

    md += ["## Results per engine", ""]
    for engine in engines:
        table = tables.engine_table(summary, references, engine, order, devices)
        models = tables.engine_models(summary, engine)
        heading = "### %s" % engine + (" (%s)" % models if models else "")
        if table.empty:
            md += [heading, "", "No cell ran (see warnings).", ""]
            continue
        table.to_csv(os.path.join(out, "tables", "%s.csv" % engine), index_label="metric")
        text = tables.formatted(table)
        with open(os.path.join(out, "tables", "%s.tex" % engine), "w") as f:
            f.write(tables.to_latex(text, "%s: measured and published results" % engine,
                                    part=tables.LATEX_PART_COLUMNS))
        md += [heading, "", tables.to_markdown(text), ""]
        if any(c.endswith(tables.REFERENCE_MARK) for c in table.columns):
            md += [REFERENCE_NOTE % source, ""]

    cells = tables.cells_table(summary, intervals)
    cells.to_csv(os.path.join(out, "tables", "cells.csv"), index=False)
    md += ["## All cells", "", tables.to_markdown(cells, index=False), ""]

    tuned = tables.finetuned_table(summary)
    if not tuned.empty:
        tuned.to_csv(os.path.join(out, "tables", "fine-tuned.csv"), index=False)
        with open(os.path.join(out, "tables", "fine-tuned.tex"), "w") as f:
            f.write(tables.to_latex(tables.finetuned_latex(tuned), "Stock engines against their fine-tuned "
                                    "recognisers (stock → fine-tuned)", index=False))
        md += ["## Stock against fine-tuned", "",
               "Each fine-tuned engine beside the engine it was made from, on the same device and mode: the "
               "same detector, the recogniser trained further on codes.", "",
               tables.to_markdown(tuned, index=False), ""]

    grammar = tables.grammar_table(summary)
    if not grammar.empty:
        grammar.to_csv(os.path.join(out, "tables", "grammar.csv"), index=False)
        md += ["## Code grammar", "",
               "Each reading, and the closest reading the dataset's code grammar accepts (bench/grammar.py: "
               "confusable characters cost less than other edits; a reading too far from every template is kept). "
               "\"Made wrong\": readings right before and wrong after; \"Gap closed\": the share of the raw "
               "reading's misses that the grammar recovers.", "", tables.to_markdown(grammar, index=False), ""]

    rejects = tables.reject_table(summary)
    if not rejects.empty:
        rejects.to_csv(os.path.join(out, "tables", "rejects.csv"), index=False)
        md += ["## Rejected readings", "",
               "Engines that mark a character they are unsure of (option `reject_below`) decline the sample "
               "instead of reading it wrong; a line can then stop for a person, not pass a wrong code.", "",
               tables.to_markdown(rejects, index=False), ""]

    by_scenario = tables.scenario_tables(summary)
    if by_scenario:
        md += ["## Throughput by scenario", "",
               "How samples were fed (bench/scenarios.py): single-stream, one image at a time; offline, all of "
               "them in calls of the batch size; multi-stream, cameras triggered together at a rate, frames queued "
               "while the engine is busy, a frame's latency counted from its arrival and on time when read before "
               "the next trigger. Images/s: images read per second of the engine's time. An engine without a "
               "batch path is fed one image at a time and the table says so.", ""]
        for name, table in by_scenario.items():
            table.to_csv(os.path.join(out, "tables", "scenario-%s.csv" % name), index=False)
            md += ["### %s" % name, "", tables.to_markdown(table, index=False), ""]
        loaded = tables.with_scenarios(ok)
        md += ["![Latency under load](%s)" % os.path.basename(plots.latency_under_load(
            loaded, engines, os.path.join(out, "latency_under_load.png"))), ""]

    paired = _paired(scored, summary, hashes)
    md += ["## Paired comparisons", "",
           "Cells that read the same samples of the same dataset, compared sample by sample with "
           "McNemar's exact test (no correction for the number of comparisons).", ""]
    if paired.empty:
        md += ["No two cells share samples.", ""]
    else:
        paired.to_csv(os.path.join(out, "tables", "paired.csv"), index=False)
        md += [tables.to_markdown(paired, index=False), ""]

    ok_scored = scored[scored[["engine", "mode", "device"]].apply(tuple, axis=1).isin(
        set(zip(ok["engine"], ok["mode"], ok["device"])))]
    per_engine = {e: scores.top_confusions(scores.confusions(g)) for e, g in ok_scored.groupby("engine", sort=False)}
    pngs = plots.save_all(ok, references, per_engine, engines, out)
    md += ["## Plots", "",
           "![Throughput](%s)" % os.path.basename(pngs["throughput"]), "",
           "![Accuracy against latency](%s)" % os.path.basename(pngs["accuracy_latency"]), "",
           "Points on the dashed line are not beaten by any cell that is both faster and more accurate.", "",
           "![Character confusions](%s)" % os.path.basename(pngs["confusions"]), ""]
    md += ["## Character confusions", "", "Most frequent substitutions (true → read), all cells of each engine.", ""]
    for engine, pairs in per_engine.items():
        md.append("- **%s**: %s" % (engine, ", ".join("`%s`→`%s` %d" % p for p in pairs) or "none"))
    md.append("")

    fots = os.path.join(os.path.dirname(references_path or PUBLISHED), "fots-backbones-nano.csv")
    if references_path and os.path.isfile(fots):
        ref = pd.read_csv(fots)
        md += ["## Published: FOTS backbones on a Jetson Nano", "",
               tables.to_markdown(ref.drop(columns=["source"]).rename(columns={
                   "backbone": "Backbone", "memory_gb": "Memory (GB)", "s_per_image": "s per image",
                   "string_acc_pct": "String acc. (%)", "char_acc_pct": "Char. acc. (%)"}), index=False), "",
               "Source: %s. Published figures on the reference's own dataset." % ref["source"].iloc[0], ""]

    md += ["## Provenance", ""] + _provenance(results)
    path = os.path.join(out, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    return path
