"""The results page, its merge plot, its raw JSON and the console summary: measured numbers only; the
page links to the hand-written ``docs/benchmarks-notes.md`` for what they mean.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # no pyplot: files only, no display

from bench.config import BenchConfig
from bench.section import SectionResult, table

PAGE = "benchmarks.md"
RAW = "benchmarks.json"
PLOT = "benchmarks_merge.png"
NOTES = "benchmarks-notes.md"
MACHINE = ("cores", "memory_gib", "cpu", "os", "python", "java", "spark", "delta", "airflow")


def notes_link(title: str) -> str:
    """The notes' heading for a section, its title up to the colon (``## Stage ingest``), as a link."""
    return f"{NOTES}#{title.split(':', maxsplit=1)[0].strip().lower().replace(' ', '-')}"


def plain(value: Any) -> Any:
    """``value`` as JSON types: dataclasses become dicts, paths strings."""

    def default(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            return dataclasses.asdict(obj)
        return str(obj)

    return json.loads(json.dumps(value, default=default))


def _scale_text(config: dict[str, Any]) -> str:
    if config.get("smoke"):
        return "smoke (tiny, proves the harness works; the figures mean nothing)"
    scale = float(config.get("scale", 1))
    return "1 (full scale)" if scale == 1 else f"{scale:g} of full scale"


def render_document(document: dict[str, Any], plot_name: str | None) -> str:
    """The whole page: header, machine, targets, then each section (naming its run if they differ)."""
    sections: dict[str, dict[str, Any]] = document["sections"]
    m = document["machine"]
    runs = {(s["measured"]["date"], s["measured"]["scale"]) for s in sections.values()}
    repeats = min((s["measured"]["repeats"] for s in sections.values()), default=1)
    if len(runs) <= 1:
        date, scale = next(iter(runs), (m["date"], _scale_text(document["config"])))
        origin = f"Written by `make bench` on {date}; scale: {scale}."
    else:  # a partial run kept earlier runs' sections; each names its run
        origin = f"Written by `make bench` from {len(runs)} runs, the last on {m['date']}."
    targets = []
    for section in sections.values():
        why = f" ([notes]({notes_link(section['title'])}))"
        for c in section["checks"]:
            verdict = "**pass**" if c["passed"] else "**miss**"
            targets.append((c["target"], c["measured"], verdict, (c["gap"] + why) if c["gap"] else "-"))
    blocks = [
        "# Benchmarks",
        f"{origin} Every timing is the median of {repeats}+ runs with min and max, baselines measured in the "
        f"same run; the raw figures are in [`{RAW}`]({RAW}). How each figure is measured, what it means and "
        f"what would change it: [`{NOTES}`]({NOTES}). Regenerate with `make bench` (`make bench SCALE=0.1` "
        "for a tenth).",
        "## Machine and versions",
        table(
            "cores | memory, GiB | CPU | OS | Python | Java | Spark | Delta | Airflow",
            [tuple(m[k] for k in MACHINE)],
        ),
        f"Spark: `{m['spark_master']}`, driver memory {m['spark_driver_memory']}, "
        f"`spark.sql.shuffle.partitions` {m['spark_shuffle_partitions']}, adaptive execution "
        f"{m['spark_adaptive']}, broadcast threshold {m['spark_broadcast_threshold']} (the local stack's "
        "settings, untuned for the benchmark).",
        "## Targets (issue #4)",
        table("target | measured | result | gap", targets),
    ]
    for number, (name, section) in enumerate(sections.items(), start=1):
        blocks.append(f"## {number}. {section['title']}")
        if len(runs) > 1:
            blocks.append(f"*Measured {section['measured']['date']}; scale: {section['measured']['scale']}.*")
        blocks.append(section["markdown"])
        if name == "merge" and plot_name:
            blocks.append(f"![merge time against table size]({plot_name})")
        blocks.append(f"*What these figures mean: [notes]({notes_link(section['title'])}).*")
    for name, error in document["errors"].items():
        blocks += [f"## Section `{name}` failed", f"```\n{error.strip()[-3000:]}\n```"]
    return "\n\n".join(blocks).rstrip() + "\n"


def raw_document(
    cfg: BenchConfig, machine: dict[str, Any], results: list[SectionResult], errors: dict[str, str]
) -> dict[str, Any]:
    """Everything the page is made of, per section with its markdown and the run that measured it."""
    config = plain(cfg)
    measured = {"date": machine["date"], "scale": _scale_text(config), "repeats": cfg.repeats}
    sections = {r.name: plain(r) | {"measured": measured} for r in results}
    return {"config": config, "machine": machine, "sections": sections, "errors": errors}


def merge_documents(earlier: dict[str, Any], latest: dict[str, Any], order: list[str]) -> dict[str, Any]:
    """``latest``'s sections (and failures) replace ``earlier``'s of the same name; the rest is kept.

    Sections are ordered as the registry lists them; config and machine are the latest run's.
    """
    rerun = set(latest["sections"]) | set(latest["errors"])
    sections = {k: v for k, v in earlier["sections"].items() if k not in rerun} | latest["sections"]
    errors = {k: v for k, v in earlier["errors"].items() if k not in rerun} | latest["errors"]
    rank = {name: i for i, name in enumerate(order)}
    ordered = dict(sorted(sections.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    return latest | {"sections": ordered, "errors": errors}


def write_atomically(path: Path, text: str) -> None:
    """Readers (and a concurrent ``--sections`` run merging into the same folder) never see half a file."""
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    part.write_text(text)
    os.replace(part, path)


def console_summary(results: list[SectionResult], errors: dict[str, str]) -> str:
    lines = []
    for result in results:
        lines.append(f"== {result.title}")
        lines += [f"  {f.name:<55} {f.value:>14,.3f} {f.unit}" for f in result.figures]
        for c in result.checks:
            gap = f" ({c.gap})" if c.gap else ""
            lines.append(f"  [{'pass' if c.passed else 'MISS'}] {c.target}: {c.measured}{gap}")
    lines += [f"== section {name} FAILED: {error.strip().splitlines()[-1]}" for name, error in errors.items()]
    return "\n".join(lines)


_STYLE = {
    "merge": ("-o", "our merge"),
    "full_rewrite": ("--s", "full rewrite"),
    "delete_append": (":^", "delete + append"),
}


def plot_merge(scenarios: list[dict[str, Any]], path: Path, subtitle: str) -> None:
    """Log-log lines of median seconds (min-max error bars) against target rows."""
    fig = Figure(figsize=(7.5, 4.8), dpi=120)
    ax = fig.subplots()
    fractions = sorted({s["fraction"] for s in scenarios})
    for colour, fraction in zip(("tab:blue", "tab:orange", "tab:green", "tab:red"), fractions, strict=False):
        rows = sorted((s for s in scenarios if s["fraction"] == fraction), key=lambda s: s["target_rows"])
        for method, (style, label) in _STYLE.items():
            t = [s["methods"][method]["timing"] for s in rows]
            ax.errorbar(
                [s["target_rows"] for s in rows],
                [x["median"] for x in t],
                yerr=[[x["median"] - x["min"] for x in t], [x["max"] - x["median"] for x in t]],
                fmt=style,
                color=colour,
                capsize=3,
                label=f"{label}, batch {fraction:.0%}",
            )
    ax.set(xscale="log", yscale="log", xlabel="target table rows", ylabel="seconds (median, min-max)")
    ax.set_title(f"Merge time against table size\n{subtitle}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
