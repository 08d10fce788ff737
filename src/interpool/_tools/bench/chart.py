"""The seed comparison's chart: one PNG, one panel per workload.

Each panel has one row per executor, coloured the same in every panel: a pale,
hatched bar for a fresh executor (start-up included) and a solid one for the same
executor reused, in seconds (shorter is better), each labelled with its time and its
speed-up over the plain loop, whose time is also drawn as a dashed line across the
panel.  A panel whose times span more than :data:`LOG_SPAN` uses a log scale (many
tiny tasks: the loop takes a millisecond, a process pool a second).  The title
names the Python, the machine, the workers and the rounds.

matplotlib is optional (``pip install 'interpool[bench]'``); without it
:func:`write_chart` raises :class:`ChartUnavailable` and the benchmark writes the
rest.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

__all__ = [
    "COLORS",
    "ChartUnavailable",
    "disturbed_note",
    "fmt_seconds",
    "fmt_speedup",
    "write_chart",
    "write_matrix_chart",
]

#: One colour per executor, the same in every panel (colour-blind-safe palette).
COLORS = {
    "loop": "#8c8c8c",
    "thread": "#0072b2",
    "process": "#e69f00",
    "ipe": "#cc79a7",
    "interpool": "#009e73",
}

#: Above this ratio between the longest and the shortest bar, a panel is log-scaled.
LOG_SPAN = 30.0

INSTALL_HINT = "pip install 'interpool[bench]' (or pip install matplotlib)"


class ChartUnavailable(RuntimeError):
    """matplotlib is not installed: the message says how to install it."""


def disturbed_note(machine: dict[str, Any]) -> str | None:
    """The warning that the table and the chart give when other processes used more
    than ``core.OTHER_CPU_DISTURBED`` percent of the CPUs during the run (the
    document's ``machine["other_cpu_percent"]``); ``None`` otherwise."""
    from .core import OTHER_CPU_DISTURBED

    percent = machine.get("other_cpu_percent")
    if percent is None or percent <= OTHER_CPU_DISTURBED:
        return None
    return (
        f"disturbed: other processes used {percent:.0f}% of the CPUs meanwhile; "
        "re-run on a quiet machine"
    )


def fmt_seconds(value: float | None) -> str:
    """``1.23 s``, ``45.6 ms``, ``789 µs``: three significant figures, a unit a person
    reads without counting zeros."""
    if value is None or math.isnan(value):
        return "n/a"
    if value >= 10:
        return f"{value:.1f} s"
    if value >= 0.1:
        return f"{value:.2f} s"
    if value >= 0.001:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def fmt_speedup(value: float | None) -> str:
    """A speed-up: ``1.82x``, ``0.45x``; below 0.1, ``1/126x`` (126 times slower)."""
    if value is None or math.isnan(value) or value <= 0:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    if value >= 0.1:
        return f"{value:.2f}x"
    return f"1/{1 / value:,.0f}x"


def _subtitle(document: dict[str, Any]) -> str:
    info, config = document["machine"], document["config"]
    platform = str(info["platform"]).split("-with-")[0]
    git = info.get("git") or {}
    commit = f" · commit {git['commit'][:9]}{'+' if git.get('dirty') else ''}" if git else ""
    rounds = config["repeat"]
    gil = "" if info.get("gil_enabled", True) else " free-threaded"
    return (
        f"Python {info['python']}{gil} · {info['cpu_count']} CPUs · {platform} · "
        f"{config['workers']} workers · median of {rounds} round{'s' if rounds != 1 else ''}"
        f" · {config['size']} size · {str(info['date'])[:10]}{commit}"
    )


def write_chart(document: dict[str, Any], path: Path) -> Path:
    """Draw the chart of a seed-comparison document (:func:`.compare.run`) into
    ``path`` (PNG); return ``path``.  Raises :class:`ChartUnavailable` without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed; before pyplot is imported
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise ChartUnavailable(f"matplotlib is not installed: {INSTALL_HINT}") from exc

    workloads: dict[str, Any] = document["workloads"]
    skipped: dict[str, str] = document.get("skipped", {})
    n = len(workloads)
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    disturbed = disturbed_note(document["machine"])
    # Fixed margins in inches, whatever the number of panels (and room for the note).
    width, top, bottom, panel = 7.4 * ncols, 1.45 + (0.3 if disturbed else 0.0), 0.95, 3.3
    height = top + bottom + panel * nrows
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(
        left=1.45 / width,
        right=1 - 0.25 / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=0.36 * ncols / 2,
        hspace=0.75 / panel * 1.5,
    )
    order = [
        k for k in COLORS if any(k in w["executors"] or k in skipped for w in workloads.values())
    ]
    for index, (ax, wl) in enumerate(zip(axes.flat, workloads.values(), strict=False), 1):
        _panel(ax, index, wl, order=order, skipped=skipped, python=document["machine"]["python"])
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)

    handles = [Patch(facecolor=COLORS[k], label=_label(k, workloads)) for k in order]
    handles += [
        Patch(
            facecolor="white",
            edgecolor="#444444",
            hatch="///",
            label="fresh pool (start-up included)",
        ),
        Patch(facecolor="#444444", label="same pool, reused"),
    ]
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.05 / height),
        ncol=math.ceil(len(handles) / 2),
        frameon=False,
        fontsize=9,
    )
    fig.text(
        0.5,
        1 - 0.28 / height,
        "interpool vs the standard library's executors: seconds per list(ex.map(fn, items))",
        ha="center",
        va="center",
        fontsize=13,
        fontweight="bold",
    )
    fig.text(
        0.5,
        1 - 0.55 / height,
        "shorter is better · (Nx) = speed-up over the plain loop (dashed line)",
        ha="center",
        va="center",
        fontsize=10,
    )
    fig.text(
        0.5,
        1 - 0.78 / height,
        _subtitle(document),
        ha="center",
        va="center",
        fontsize=8.5,
        color="#555555",
    )
    if disturbed:
        fig.text(
            0.5,
            1 - 1.05 / height,
            disturbed,
            ha="center",
            va="center",
            fontsize=9.5,
            fontweight="bold",
            color="#c0392b",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _label(kind: str, workloads: dict[str, Any]) -> str:
    for wl in workloads.values():
        if kind in wl["executors"]:
            return str(wl["executors"][kind]["label"])
    return {"ipe": "InterpreterPoolExecutor"}.get(kind, kind)


def _panel(
    ax: Any,
    index: int,
    wl: dict[str, Any],
    *,
    order: list[str],
    skipped: dict[str, str],
    python: str,
) -> None:
    executors: dict[str, Any] = wl["executors"]
    values = [
        e[f"{when}_seconds"]["median"]
        for e in executors.values()
        for when in ("fresh", "reused")
        if e[f"{when}_seconds"]["median"]
    ]
    if not values:
        return
    low, high = min(values), max(values)
    log = high / low > LOG_SPAN
    base = low / 3 if log else 0.0
    height = 0.38
    for row, kind in enumerate(order):
        y = -row
        if kind not in executors:
            if kind in skipped:
                ax.text(
                    base if log else 0,
                    y,
                    f"  n/a: Python {python} has no InterpreterPoolExecutor",
                    va="center",
                    fontsize=8,
                    color="#666666",
                    style="italic",
                )
            continue
        e = executors[kind]
        color = COLORS[kind]
        bars: list[tuple[str, float, float, str | None]]
        if kind == "loop":
            bars = [("reused", y, 1.0, None)]
        else:
            bars = [
                ("fresh", y + height / 2, 0.35, "///"),
                ("reused", y - height / 2, 1.0, None),
            ]
        for when, pos, alpha, hatch in bars:
            seconds = e[f"{when}_seconds"]["median"]
            if not seconds:
                continue
            ax.barh(
                pos,
                seconds - base,
                left=base,
                height=height if kind != "loop" else height * 1.4,
                color=color,
                alpha=alpha,
                hatch=hatch,
                edgecolor=color,
                linewidth=0.8,
            )
            speedup = e[f"speedup_vs_loop_{when}"]
            text = fmt_seconds(seconds)
            if kind != "loop" and speedup is not None:
                text += f"  ({fmt_speedup(speedup)})"
            ax.text(
                seconds * (1.06 if log else 1.0) + (0 if log else high * 0.015),
                pos,
                text,
                va="center",
                fontsize=8,
                fontweight="bold" if when == "reused" else "normal",
                color="#222222",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85},
            )
    loop_seconds = executors["loop"]["reused_seconds"]["median"]
    ax.axvline(loop_seconds, color=COLORS["loop"], linestyle="--", linewidth=1, zorder=0)
    ax.set_yticks([-row for row in range(len(order))])
    ax.set_yticklabels([_short(k) for k in order], fontsize=9)
    for tick, kind in zip(ax.get_yticklabels(), order, strict=True):
        tick.set_color(COLORS[kind] if kind != "loop" else "#444444")
        tick.set_fontweight("bold")
    if log:
        ax.set_xscale("log")
        ax.set_xlim(base, high * 8)
        ax.set_xlabel("seconds (log scale)", fontsize=8)
    else:
        ax.set_xlim(0, high * 1.45)
        ax.set_xlabel("seconds", fontsize=8)
    ax.set_ylim(-len(order) + 0.4, 0.6)
    ax.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="x", color="#e6e6e6", linewidth=0.6, zorder=0)
    ax.set_axisbelow(True)
    ax.set_title(
        f"{index}. {wl['title']}\n{wl['inputs']}",
        fontsize=10,
        loc="left",
    )


def _short(kind: str) -> str:
    return {
        "loop": "for loop",
        "thread": "threads",
        "process": "processes",
        "ipe": "InterpreterPool",
        "interpool": "interpool",
    }[kind]


def write_matrix_chart(section: dict[str, Any], machine: dict[str, Any], path: Path) -> Path:
    """Draw the payload matrix (``data.bench_matrix``'s section, as JSON) into
    ``path`` (PNG): one group of bars per payload and direction, each executor's time
    divided by the better of ``InterpreterPoolExecutor`` and ``ProcessPoolExecutor``
    (log scale; left of 1 is faster than the best peer).  Raises
    :class:`ChartUnavailable` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise ChartUnavailable(f"matplotlib is not installed: {INSTALL_HINT}") from exc

    cells: dict[tuple[str, str], dict[str, float]] = {}
    labels: dict[tuple[str, str], str] = {}
    for row in section["rows"]:
        key = (row["shape"], row["direction"])
        labels[key] = f"{row['payload']}, {row['direction']}"
        if row["median"] is not None:
            cells.setdefault(key, {})[row["executor"]] = row["median"]
    kinds = [k for k in ("interpool", "ipe", "process", "thread") if k in COLORS]
    groups = list(labels)
    height = 1.4 + 0.34 * len(groups)
    fig, ax = plt.subplots(figsize=(9.5, height))
    fig.subplots_adjust(left=3.3 / 9.5, right=0.97, top=1 - 0.9 / height, bottom=0.7 / height)
    bar = 0.8 / len(kinds)
    for g, key in enumerate(groups):
        times = cells.get(key, {})
        peers = [times[k] for k in ("ipe", "process") if k in times]
        if not peers:
            continue
        best = min(peers)
        for i, kind in enumerate(kinds):
            if kind not in times:
                continue
            y = g + (i - (len(kinds) - 1) / 2) * bar
            ax.barh(y, times[kind] / best, height=bar, color=COLORS[kind], left=0)
    ax.set_xscale("log")
    ax.set_xlim(left=0.03)  # a ThreadPool bar (no crossing) may be far shorter
    ax.axvline(1.0, color="#333333", linewidth=0.8, linestyle="--")
    ax.set_yticks(range(len(groups)))
    ax.set_yticklabels([labels[k] for k in groups], fontsize=7.5)
    ax.invert_yaxis()
    ax.set_xlabel("time / the better of InterpreterPool and ProcessPool (log; < 1 is faster)")
    ax.grid(axis="x", which="both", color="#dddddd", linewidth=0.5)
    ax.set_axisbelow(True)
    names = {
        "interpool": "interpool.Pool",
        "ipe": "InterpreterPoolExecutor",
        "process": "ProcessPoolExecutor",
        "thread": "ThreadPoolExecutor (no crossing)",
    }
    fig.legend(
        handles=[Patch(facecolor=COLORS[k], label=names[k]) for k in kinds],
        loc="lower center",
        ncol=len(kinds),
        frameon=False,
        fontsize=8,
    )
    fig.text(
        0.5,
        1 - 0.3 / height,
        "Payload matrix: list(ex.map(f, [payload] * n)), relative to the best peer",
        ha="center",
        fontsize=11,
        fontweight="bold",
    )
    fig.text(
        0.5,
        1 - 0.6 / height,
        f"Python {machine.get('python', '?')}, {machine.get('cpu_count', '?')} CPUs, "
        f"{str(machine.get('date', ''))[:10]}; medians of {section.get('rounds', '?')} "
        "interleaved rounds",
        ha="center",
        fontsize=8,
        color="#555555",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
