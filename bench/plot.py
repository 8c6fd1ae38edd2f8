"""The page's picture: merge seconds against target size, per method and batch fraction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

_STYLE = {"merge": "-o", "full_rewrite": "--s", "delete_append": ":^"}
_LABEL = {"merge": "our merge", "full_rewrite": "full rewrite", "delete_append": "delete + append"}


def plot_merge(scenarios: list[dict[str, Any]], path: Path, subtitle: str) -> None:
    """Log-log lines of median seconds (min-max error bars) against target rows."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    fractions = sorted({s["fraction"] for s in scenarios})
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for colour, fraction in zip(colours, fractions, strict=False):
        rows = sorted((s for s in scenarios if s["fraction"] == fraction), key=lambda s: s["target_rows"])
        for method, style in _STYLE.items():
            xs = [s["target_rows"] for s in rows]
            timings = [s["methods"][method]["timing"] for s in rows]
            ys = [t["median"] for t in timings]
            low = [t["median"] - t["min"] for t in timings]
            high = [t["max"] - t["median"] for t in timings]
            ax.errorbar(
                xs,
                ys,
                yerr=[low, high],
                fmt=style,
                color=colour,
                capsize=3,
                label=f"{_LABEL[method]}, batch {fraction:.0%}",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("target table rows")
    ax.set_ylabel("seconds (median, min-max)")
    ax.set_title(f"Merge time against table size\n{subtitle}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
