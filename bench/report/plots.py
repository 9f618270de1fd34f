"""Plots for print: throughput on a log scale, accuracy against latency with the Pareto
front, and the most frequent character confusions per engine."""
import math
import os
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from bench.report.load import MODE_ORDER, cell_label  # noqa: E402

# text.parse_math off: device and engine names are plain text ('rig$^$' is no formula)
plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.grid": True, "grid.alpha": 0.3,
                     "savefig.dpi": 200, "savefig.bbox": "tight", "figure.constrained_layout.use": True,
                     "text.parse_math": False})
# confusions: a face that tells 0 (dotted) from O, shipped with matplotlib so found everywhere
CONFUSION_FONT = "DejaVu Sans Mono"
PLAIN = FuncFormatter(lambda v, _: "%g" % v)  # 100, not 10^2, on log axes
# minor ticks of a log axis labelled at 2 and 5 only (20, 50, 200, ...), the rest left bare
TWOS_FIVES = FuncFormatter(lambda v, _: "%g" % v if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else "")
COLORS = plt.get_cmap("tab10").colors
MARKERS = "osD^vP*Xh<>p8d"


def _engine_colors(engines: List[str]) -> Dict[str, tuple]:
    return {e: COLORS[i % len(COLORS)] for i, e in enumerate(engines)}


def throughput(ok: pd.DataFrame, references: pd.DataFrame, engines: List[str], path: str) -> str:
    """Horizontal bars, FPS on a log axis; published figures hatched and marked †."""
    colors = _engine_colors(engines)
    bars = [("%s · %s" % (r.engine, cell_label(r.device, r.mode)), r.fps, colors[r.engine], False)
            for r in ok.itertuples() if pd.notna(r.fps)]
    bars += [("%s · %s †" % (r.engine, r.label), r.fps, colors.get(r.engine, "grey"), True)
             for r in references.itertuples() if r.engine in colors]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(bars) + 1.2))
    for i, (label, fps, color, published) in enumerate(reversed(bars)):
        ax.barh(i, fps, color=color, alpha=0.45 if published else 0.9, hatch="//" if published else None,
                edgecolor="black", linewidth=0.5)
        ax.text(fps * 1.08, i, "%.3g" % fps, va="center", fontsize=8)
    ax.set_yticks(range(len(bars)))
    ax.set_yticklabels([b[0] for b in reversed(bars)], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(right=max(b[1] for b in bars) * 3 if bars else None)
    ax.xaxis.set_major_formatter(PLAIN)
    ax.set_xlabel("throughput, images per second (log scale)")
    ax.set_title("Throughput per engine, mode and device († published)")
    fig.savefig(path)
    plt.close(fig)
    return path


def pareto_front(points: List[tuple]) -> List[tuple]:
    """(latency, score) pairs not beaten by one both faster and at least as good, by latency."""
    front, best = [], float("-inf")
    for latency, score in sorted(points, key=lambda p: (p[0], -p[1])):
        if score > best:
            front.append((latency, score))
            best = score
    return front


def cell_styles(data: pd.DataFrame, engines: List[str]) -> Dict[tuple, tuple]:
    """(engine, device, mode) -> (colour, marker): a colour per engine, a marker per device
    and mode, so that every cell's point is told apart by the legend alone."""
    colors = _engine_colors(engines)
    kinds = sorted({(r.device, r.mode) for r in data.itertuples()},
                   key=lambda k: (k[0], MODE_ORDER.index(k[1]) if k[1] in MODE_ORDER else len(MODE_ORDER), k[1]))
    markers = {kind: MARKERS[i % len(MARKERS)] for i, kind in enumerate(kinds)}
    return {(r.engine, r.device, r.mode): (colors[r.engine], markers[(r.device, r.mode)]) for r in data.itertuples()}


MEMORY_LEGEND_MB = (100, 500, 1500)


def memory_area(mb) -> float:
    """A marker's area (points squared) for a cell's peak memory, in proportion to it (a
    cell without a figure: the area of 360 MB)."""
    return 45.0 if mb is None or mb != mb else max(8.0, float(mb) / 8.0)


def accuracy_latency(ok: pd.DataFrame, engines: List[str], path: str) -> str:
    """Strict accuracy and 100 - CER against median latency, one point per cell, named in the
    legend by its colour (engine) and marker (device and mode), never by a label that could
    drift beside another point, its area in proportion to the cell's peak memory; the cells
    on the Pareto front (no other cell both faster and at least as accurate) are ringed."""
    data = ok.dropna(subset=["t_total_p50_ms"])
    styles = cell_styles(data, engines)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, column, title in ((axes[0], "strict_acc", "strict accuracy (%)"),
                              (axes[1], "cer", "100 − CER (%)")):
        points = []
        for r in data.itertuples():
            score = getattr(r, column) * 100
            score = 100 - score if column == "cer" else score
            points.append((r.t_total_p50_ms, score))
            color, marker = styles[(r.engine, r.device, r.mode)]
            ax.scatter(r.t_total_p50_ms, score, color=color, marker=marker, edgecolor="black", zorder=3,
                       s=memory_area(getattr(r, "peak_rss_mb", None)),
                       label="%s · %s" % (r.engine, cell_label(r.device, r.mode)))
        front = pareto_front(points)
        if front:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="black",
                    linestyle="--", linewidth=1, zorder=2)
            ax.scatter([p[0] for p in front], [p[1] for p in front], s=300, facecolors="none",
                       edgecolors="black", linewidths=1, zorder=2, label="Pareto front")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(PLAIN)
        ax.xaxis.set_minor_formatter(TWOS_FIVES)
        ax.margins(x=0.15, y=0.12)
        ax.set_xlabel("median time per sample, ms (log scale)")
        ax.set_ylabel(title)
    handles, names = axes[0].get_legend_handles_labels()
    for mb in MEMORY_LEGEND_MB:  # legend entries only: nothing drawn, nothing scaled
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=memory_area(mb) ** 0.5,
                              markerfacecolor="lightgrey", markeredgecolor="black"))
        names.append("peak memory %d MB" % mb)
    fig.legend(handles, names, loc="outside lower center", ncols=min(3, max(1, len(names))), fontsize=8,
               frameon=False)
    fig.suptitle("Accuracy against latency (up and left is better; marker area: peak memory)")
    fig.savefig(path)
    plt.close(fig)
    return path


CONFUSION_COLUMNS = 2  # panels per row: about 7 inches wide, legible at a page's text width


def _char(c: str) -> str:
    """A character as the plot shows it: a rejected one (U+FFFD, adapters.base.REJECT) by name,
    a space visibly."""
    return {"\ufffd": "rejected", " ": "space"}.get(c, c)


def confusions(per_engine: Dict[str, list], path: str) -> str:
    """The most frequent substitutions, true → read, per engine: a grid of at most
    ``CONFUSION_COLUMNS`` panels a row, so that a report of many engines stays legible."""
    engines = [e for e, pairs in per_engine.items() if pairs]
    columns = max(1, min(CONFUSION_COLUMNS, len(engines)))
    rows = max(1, -(-len(engines) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns + 0.5, 3.4 * rows + 0.6), squeeze=False)
    for ax in axes.flat[len(engines):]:
        ax.set_visible(False)
    for ax, engine in zip(axes.flat, engines):
        pairs = per_engine[engine]
        ax.barh(range(len(pairs)), [n for _, _, n in pairs][::-1], color="tab:red", alpha=0.8)
        ax.set_yticks(range(len(pairs)))
        ax.set_yticklabels(["%s → %s" % (_char(a), _char(b)) for a, b, _ in pairs][::-1], family=CONFUSION_FONT)
        ax.set_title(engine)
        ax.set_xlabel("substitutions")
    if not engines:
        axes[0][0].set_visible(True)
        axes[0][0].text(0.5, 0.5, "no substitutions", ha="center")
    fig.suptitle("Most frequent character confusions (true → read)")
    fig.savefig(path)
    plt.close(fig)
    return path


SCENARIO_MARKERS = {"single-stream": "o", "offline": "s", "multi-stream": "^"}


def latency_under_load(cells: pd.DataFrame, engines: List[str], path: str) -> str:
    """Each ok cell at the load it served (images per second: what it sustained, or in
    multi-stream what the cameras offered, if less) against its p99 latency; the marker
    says the scenario, the colour the engine."""
    colors = _engine_colors(engines)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    served_all = []
    for r in cells.itertuples():
        served = r.throughput_ips
        if r.scenario == "multi-stream":
            served = min(served, r.streams * r.rate_fps)
        if pd.isna(served) or pd.isna(r.t_total_p99_ms):
            continue
        served_all.append(served)
        ax.scatter(served, r.t_total_p99_ms, color=colors[r.engine], marker=SCENARIO_MARKERS.get(r.scenario, "x"),
                   edgecolor="black", linewidth=0.5, s=50, zorder=3)
        batch = "" if r.scenario == "single-stream" else " b%d" % r.batch
        ax.annotate("%s %s%s" % (r.engine, cell_label(r.device, r.mode), batch), (served, r.t_total_p99_ms),
                    textcoords="offset points", xytext=(5, 3), fontsize=7)
    for name, marker in SCENARIO_MARKERS.items():
        ax.scatter([], [], marker=marker, color="white", edgecolor="black", label=name)
    ax.legend(fontsize=8, title="scenario", title_fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    if served_all:  # room for the labels right of the fastest
        ax.set_xlim(min(served_all) / 1.5, max(served_all) * 6)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(PLAIN)
    ax.set_xlabel("images per second served (log scale)")
    ax.set_ylabel("p99 latency, ms (log scale)")
    ax.set_title("Latency under load")
    fig.savefig(path)
    plt.close(fig)
    return path


def save_all(ok: pd.DataFrame, references: pd.DataFrame, per_engine_confusions: Dict[str, list],
             engines: List[str], out: str) -> Dict[str, str]:
    return {
        "throughput": throughput(ok, references, engines, os.path.join(out, "throughput.png")),
        "accuracy_latency": accuracy_latency(ok, engines, os.path.join(out, "accuracy_latency.png")),
        "confusions": confusions(per_engine_confusions, os.path.join(out, "confusions.png")),
    }
