"""Plots for print: throughput on a log scale, accuracy against latency with the Pareto
front, and the most frequent character confusions per engine."""
import math
import os
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.textpath import TextPath  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from bench.report.load import cell_label  # noqa: E402

plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.grid": True, "grid.alpha": 0.3,
                     "savefig.dpi": 200, "savefig.bbox": "tight", "figure.constrained_layout.use": True})
PLAIN = FuncFormatter(lambda v, _: "%g" % v)  # 100, not 10^2, on log axes
# minor ticks of a log axis labelled at 2 and 5 only (20, 50, 200, ...), the rest left bare
TWOS_FIVES = FuncFormatter(lambda v, _: "%g" % v if v > 0 and round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else "")
COLORS = plt.get_cmap("tab10").colors
MARKERS = "osD^vP*X"


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


def _place_labels(ax, labels: List[tuple], fontsize: float) -> None:
    """Annotate each (x, y, text) point beside it (on its left where the right would leave
    the axes), moving a label down, then up, in steps of one text line until it overlaps no
    label placed before (twin cells often coincide)."""
    ax.autoscale_view()
    points_to_px = ax.figure.dpi / 72.0
    line = fontsize * 1.3
    placed: List[tuple] = []  # (left, bottom, right, top) in display pixels
    for x, y, text in sorted(labels, key=lambda l: (-l[1], l[0])):
        px, py = ax.transData.transform((x, y))
        width = TextPath((0, 0), text, size=fontsize).get_extents().width  # points
        right = px + (4 + width) * points_to_px <= ax.bbox.x1
        dx = 4 if right else -4 - width
        for k in range(40):  # offsets 4, 4 - line, 4 + line, 4 - 2 lines, ...
            dy = 4 - line * ((k + 1) // 2) * (1 if k % 2 else -1)
            box = (px + dx * points_to_px, py + dy * points_to_px, px + (dx + width) * points_to_px,
                   py + (dy + line) * points_to_px)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx if right else -4, dy), fontsize=fontsize,
                    ha="left" if right else "right",
                    arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.5} if k else None)


def accuracy_latency(ok: pd.DataFrame, engines: List[str], devices: List[str], path: str) -> str:
    """Strict accuracy and 100 - CER against median latency, one point per cell; the cells on
    the Pareto front (no other cell both faster and at least as accurate) are ringed."""
    colors = _engine_colors(engines)
    data = ok.dropna(subset=["t_total_p50_ms"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, column, title in ((axes[0], "strict_acc", "strict accuracy (%)"),
                              (axes[1], "cer", "100 − CER (%)")):
        points, labels = [], []
        for r in data.itertuples():
            score = getattr(r, column) * 100
            score = 100 - score if column == "cer" else score
            points.append((r.t_total_p50_ms, score))
            labels.append((r.t_total_p50_ms, score, "%s %s" % (r.engine, cell_label(r.device, r.mode))))
            ax.scatter(r.t_total_p50_ms, score, color=colors[r.engine], edgecolor="black", s=45, zorder=3,
                       marker=MARKERS[devices.index(r.device) % len(MARKERS)] if r.device in devices else "o")
        front = pareto_front(points)
        if front:
            ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="black",
                    linestyle="--", linewidth=1, zorder=2)
            ax.scatter([p[0] for p in front], [p[1] for p in front], s=160, facecolors="none",
                       edgecolors="black", linewidths=1, zorder=2, label="Pareto front")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(PLAIN)
        ax.xaxis.set_minor_formatter(TWOS_FIVES)
        ax.margins(x=0.35, y=0.12)
        ax.set_xlabel("median time per sample, ms (log scale)")
        ax.set_ylabel(title)
        _place_labels(ax, labels, fontsize=7)
        if front:
            ax.legend(loc="best", fontsize=8)
    fig.suptitle("Accuracy against latency (up and left is better)")
    fig.savefig(path)
    plt.close(fig)
    return path


def confusions(per_engine: Dict[str, list], path: str) -> str:
    """The most frequent substitutions, true → read, per engine."""
    engines = [e for e, pairs in per_engine.items() if pairs]
    fig, axes = plt.subplots(1, max(1, len(engines)), figsize=(3.2 * max(1, len(engines)) + 0.5, 3.8), squeeze=False)
    for ax, engine in zip(axes[0], engines):
        pairs = per_engine[engine]
        ax.barh(range(len(pairs)), [n for _, _, n in pairs][::-1], color="tab:red", alpha=0.8)
        ax.set_yticks(range(len(pairs)))
        ax.set_yticklabels(["%s → %s" % (a, b) for a, b, _ in pairs][::-1], family="monospace")
        ax.set_title(engine)
        ax.set_xlabel("substitutions")
    if not engines:
        axes[0][0].text(0.5, 0.5, "no substitutions", ha="center")
    fig.suptitle("Most frequent character confusions (true → read)")
    fig.savefig(path)
    plt.close(fig)
    return path


def save_all(ok: pd.DataFrame, references: pd.DataFrame, per_engine_confusions: Dict[str, list],
             engines: List[str], devices: List[str], out: str) -> Dict[str, str]:
    return {
        "throughput": throughput(ok, references, engines, os.path.join(out, "throughput.png")),
        "accuracy_latency": accuracy_latency(ok, engines, devices, os.path.join(out, "accuracy_latency.png")),
        "confusions": confusions(per_engine_confusions, os.path.join(out, "confusions.png")),
    }
