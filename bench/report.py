"""The results page (markdown), its raw JSON, and the console summary, from the sections' results."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.config import BenchConfig
from bench.registry import SectionResult

PAGE = "benchmarks.md"
RAW = "benchmarks.json"
PLOT = "benchmarks_merge.png"


def _scale_text(cfg: BenchConfig) -> str:
    return _scale_text_of({"smoke": cfg.smoke, "scale": cfg.scale})


def _machine_lines(machine: dict[str, Any]) -> list[str]:
    return [
        "| cores | memory | CPU | OS | Python | Java | Spark | Delta | Airflow |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {machine['cores']} | {machine['memory_gib']} GiB | {machine['cpu']} | {machine['os']} "
        f"| {machine['python']} | {machine['java']} | {machine['spark']} | {machine['delta']} "
        f"| {machine['airflow']} |",
        "",
        f"Spark: `{machine['spark_master']}`, driver memory {machine['spark_driver_memory']}, "
        f"`spark.sql.shuffle.partitions` {machine['spark_shuffle_partitions']}, adaptive execution "
        f"{machine['spark_adaptive']}, broadcast threshold {machine['spark_broadcast_threshold']} (the "
        "local stack's settings, untuned for the benchmark).",
    ]


def _targets_lines(sections: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| target | measured | result | gap |", "|---|---|---|---|"]
    notes = []
    for section in sections.values():
        for check in section["checks"]:
            verdict = "**pass**" if check["passed"] else "**miss**"
            lines.append(f"| {check['target']} | {check['measured']} | {verdict} | {check['gap'] or '-'} |")
            if check["diagnosis"]:
                notes.append(f"- *{check['target']}* ({check['gap']}): {check['diagnosis']}")
    return lines + (["", *notes] if notes else [])


def _measured_text(measured: dict[str, Any]) -> str:
    return f"Measured {measured['date']}; scale: {measured['scale']}."


def render_document(document: dict[str, Any], plot_name: str | None) -> str:
    """The whole page from the raw document: header, machine, targets with diagnoses, then each section.

    Sections may come from different runs (``--sections`` adds to the page what it measured and keeps
    the rest); the page then says so and each section names its run.
    """
    sections: dict[str, dict[str, Any]] = document["sections"]
    machine = document["machine"]
    runs = {(s["measured"]["date"], s["measured"]["scale"]) for s in sections.values()}
    repeats = min((s["measured"]["repeats"] for s in sections.values()), default=1)
    if len(runs) <= 1:
        date, scale = next(iter(runs), (machine["date"], _scale_text_of(document["config"])))
        origin = f"Written by `make bench` on {date}; scale: {scale}."
    else:
        origin = (
            f"Written by `make bench`, last on {machine['date']}, from {len(runs)} runs: `python -m bench "
            "--sections ...` replaces the sections it measures and keeps the others, and each section names "
            "its run."
        )
    lines = [
        "# Benchmarks",
        "",
        f"{origin} Every timing is the median of {repeats}+ runs with min and max, baselines measured in "
        f"the same run; the raw figures are in [`{RAW}`]({RAW}). Regenerate with `make bench` "
        "(`make bench SCALE=0.1` for a tenth).",
        "",
        "## Machine and versions",
        "",
        *_machine_lines(machine),
        "",
        "## Targets (issue #4)",
        "",
        *_targets_lines(sections),
    ]
    for number, (name, section) in enumerate(sections.items(), start=1):
        lines += ["", f"## {number}. {section['title']}", ""]
        if len(runs) > 1:
            lines += [f"*{_measured_text(section['measured'])}*", ""]
        lines.append(section["markdown"])
        if name == "merge" and plot_name:
            lines += ["", f"![merge time against table size]({plot_name})"]
    for name, error in document["errors"].items():
        lines += ["", f"## Section `{name}` failed", "", "```", error.strip()[-3000:], "```"]
    return "\n".join(lines).rstrip() + "\n"


def _scale_text_of(config: dict[str, Any]) -> str:
    if config.get("smoke"):
        return "smoke (tiny, proves the harness works; the figures mean nothing)"
    scale = float(config.get("scale", 1))
    return "1 (full scale)" if scale == 1 else f"{scale:g} of full scale"


def raw_document(
    cfg: BenchConfig, machine: dict[str, Any], results: list[SectionResult], errors: dict[str, str]
) -> dict[str, Any]:
    """Everything the page is made of, per section with its markdown and the run that measured it."""
    config = asdict(cfg) | {"work_dir": str(cfg.work_dir), "out_dir": str(cfg.out_dir)}
    measured = {
        "date": machine["date"],
        "scale": _scale_text(cfg),
        "smoke": cfg.smoke,
        "repeats": cfg.repeats,
    }
    return {
        "config": config,
        "machine": machine,
        "sections": {
            r.name: {
                "title": r.title,
                "figures": [asdict(f) for f in r.figures],
                "checks": [asdict(c) for c in r.checks],
                "raw": r.raw,
                "markdown": r.markdown,
                "measured": measured,
            }
            for r in results
        },
        "errors": errors,
    }


def _markdown_from_page(page: str, title: str) -> str:
    """A section's markdown from a page written before the JSON held it: its heading to the next."""
    lines = page.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("## ") and line.split(". ", 1)[-1] == title:
            body = []
            for text in lines[i + 1 :]:
                if text.startswith("## "):
                    break
                body.append(text)
            return "\n".join(body).strip()
    return "(the page of this run is missing: see the JSON)"


def read_raw(raw: Path, page: Path) -> dict[str, Any] | None:
    """The document an earlier run left in the output folder, completed if an older harness wrote it."""
    if not raw.exists():
        return None
    document: dict[str, Any] = json.loads(raw.read_text())
    page_text = page.read_text() if page.exists() else ""
    measured = {
        "date": document["machine"]["date"],
        "scale": _scale_text_of(document["config"]),
        "smoke": bool(document["config"].get("smoke")),
        "repeats": int(document["config"].get("repeats", 1)),
    }
    for section in document["sections"].values():
        section.setdefault("measured", measured)
        if "markdown" not in section:
            section["markdown"] = _markdown_from_page(page_text, section["title"])
    return document


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


def write_raw(path: Path, document: dict[str, Any]) -> None:
    write_atomically(path, json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")


def console_summary(results: list[SectionResult], errors: dict[str, str]) -> str:
    lines = []
    for result in results:
        lines.append(f"== {result.title}")
        lines += [f"  {f.name:<55} {f.value:>14,.3f} {f.unit}" for f in result.figures]
        lines += [
            f"  [{'pass' if c.passed else 'MISS'}] {c.target}: {c.measured}"
            + (f" ({c.gap})" if c.gap else "")
            for c in result.checks
        ]
    lines += [f"== section {name} FAILED: {error.strip().splitlines()[-1]}" for name, error in errors.items()]
    return "\n".join(lines)
