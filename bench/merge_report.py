"""Turning the merge section's measurements into figures, target checks and the page's tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.registry import SectionResult, TargetCheck
from bench.timing import fmt_seconds, ratio

if TYPE_CHECKING:
    from bench.merge_bench import Profile, Scenario

REWRITE_TARGET = 5.0  # merge of a 1% batch into the largest target >= 5x faster than a full rewrite
SCALING_TARGET = 2.5  # merge(largest) / merge(smallest) <= 2.5 for the same batch


def _rows(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return f"{n:,}"


def same_batch_pairs(scenarios: list[Scenario]) -> list[tuple[Scenario, Scenario]]:
    """(small target, large target) scenarios with the same batch rows, smallest vs largest target."""
    small, large = min(s.target_rows for s in scenarios), max(s.target_rows for s in scenarios)
    by_rows = {s.batch_rows: s for s in scenarios if s.target_rows == small}
    return [
        (by_rows[s.batch_rows], s) for s in scenarios if s.target_rows == large and s.batch_rows in by_rows
    ]


def _times_table(scenarios: list[Scenario]) -> list[str]:
    from bench.merge_bench import LABELS, METHODS, OURS

    lines = [
        "| target rows | batch rows | method | seconds, median (min-max) | time / our merge | rows written "
        "| rows copied unchanged | files added / removed | deletion vectors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scenarios:
        for method in METHODS:
            runs = s.methods[method]
            cost = runs.cost
            vs = f"{ratio(runs.timing.median, s.seconds(OURS)):.2f}x"
            lines.append(
                f"| {_rows(s.target_rows)} | {_rows(s.batch_rows)} ({s.fraction:.0%}) | {LABELS[method]} "
                f"| {runs.timing.text()} | {vs} | {cost.rows_written:,} | {cost.rows_copied:,} "
                f"| {cost.files_added} / {cost.files_removed} | {cost.deletion_vectors_added} |"
            )
    return lines


def _profile_lines(profile: Profile, scenario: Scenario) -> list[str]:
    from bench.merge_bench import OURS

    cost = scenario.methods[OURS].cost
    lines = [
        f"Profile of our merge job, {_rows(profile.target_rows)}-row target, {_rows(profile.batch_rows)}-row "
        f"batch (last repetition, {fmt_seconds(profile.job_seconds)}):",
        "",
        f"- Delta's MERGE command: {cost.merge_execution_ms / 1000:.1f} s (its own metrics: scan "
        f"{cost.merge_scan_ms / 1000:.1f} s, rewrite {cost.merge_rewrite_ms / 1000:.1f} s); of the "
        f"target's {scenario.layout.files} files it marked rows in {cost.deletion_vectors_added} with "
        f"deletion vectors and removed {cost.files_removed}, and wrote {cost.files_added} new files.",
        "",
        "| SQL execution | seconds | joins | scans |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {e.description} | {e.seconds:.2f} | {', '.join(e.joins) or '-'} | {e.scans} |"
        for e in profile.executions[:8]
    ]
    return lines


def render(name: str, title: str, scenarios: list[Scenario], profile: Profile, repeats: int) -> SectionResult:
    from bench.merge_bench import DELETE_APPEND, OURS, REWRITE
    from bench.merge_diagnosis import rewrite_diagnosis, scaling_diagnosis

    out = SectionResult(name, title)
    for s in scenarios:
        key = f"t{s.target_rows}_b{s.batch_rows}"
        for method, runs in s.methods.items():
            out.add(f"merge_{key}_{method}_seconds", runs.timing.median, "s")
            out.add(f"merge_{key}_{method}_rows_written", runs.cost.rows_written, "rows")
        out.add(f"merge_{key}_rewrite_over_merge", ratio(s.seconds(REWRITE), s.seconds(OURS)), "x")
        out.add(
            f"merge_{key}_delete_append_over_merge", ratio(s.seconds(DELETE_APPEND), s.seconds(OURS)), "x"
        )
        memory = s.methods[OURS].memory
        if memory:
            out.add(f"merge_{key}_driver_rss_peak", memory.rss_peak_mib, "MiB")
            out.add(f"merge_{key}_driver_heap_peak", memory.heap_peak_mib, "MiB")

    largest = max(s.target_rows for s in scenarios)
    smallest_fraction = min(s.fraction for s in scenarios)
    key_scenario = next(s for s in scenarios if s.target_rows == largest and s.fraction == smallest_fraction)
    speedup = ratio(key_scenario.seconds(REWRITE), key_scenario.seconds(OURS))
    ok = speedup >= REWRITE_TARGET
    out.checks.append(
        TargetCheck(
            target=f"merge of a {smallest_fraction:.0%} batch into the {_rows(largest)}-row target "
            f">= {REWRITE_TARGET:g}x faster than the full rewrite",
            measured=f"{speedup:.2f}x ({fmt_seconds(key_scenario.seconds(OURS))} vs "
            f"{fmt_seconds(key_scenario.seconds(REWRITE))})",
            passed=ok,
            gap="" if ok else f"{REWRITE_TARGET / speedup:.2f}x short",
            diagnosis="" if ok else rewrite_diagnosis(key_scenario, profile),
        )
    )
    scaling_lines = []
    for small, large in same_batch_pairs(scenarios):
        scale = ratio(large.seconds(OURS), small.seconds(OURS))
        out.add(f"merge_scaling_b{large.batch_rows}", scale, "x")
        scaling_lines.append(
            f"| {_rows(large.batch_rows)} | {fmt_seconds(small.seconds(OURS))} "
            f"| {fmt_seconds(large.seconds(OURS))} "
            f"| {scale:.2f} | {ratio(large.seconds(REWRITE), small.seconds(REWRITE)):.2f} |"
        )
        fine = scale <= SCALING_TARGET
        out.checks.append(
            TargetCheck(
                target=f"merge({_rows(large.target_rows)}) / merge({_rows(small.target_rows)}) "
                f"<= {SCALING_TARGET:g} for the same {_rows(large.batch_rows)}-row batch",
                measured=f"{scale:.2f}",
                passed=fine,
                gap="" if fine else f"{scale / SCALING_TARGET:.2f}x over",
                diagnosis="" if fine else scaling_diagnosis(small, large),
            )
        )

    memory_lines = []
    for s in scenarios:
        memory = s.methods[OURS].memory
        if memory:
            memory_lines.append(
                f"| {_rows(s.target_rows)} | {_rows(s.batch_rows)} | {memory.rss_peak_mib:,.0f} MiB "
                f"| {memory.heap_peak_mib:,.0f} MiB | {memory.heap_max_mib:,.0f} MiB |"
            )
    sampled = next((s.methods[OURS].memory for s in scenarios if s.methods[OURS].memory), None)
    counts_ok = all(s.counts_match for s in scenarios)
    out.markdown = "\n".join(
        [
            f"Targets written with our DDL and properties (deletion vectors on), keys spread over the "
            f"key range; {repeats} repetitions per method in rotating order, the target restored to its "
            "starting version after each run. Batches: half updates (spread over the whole table), "
            "half new keys, 5% in-batch duplicates and 5% stale events. Our job's insert / update / stale "
            f"/ superseded counts {'match' if counts_ok else 'DO NOT match'} the generated batches.",
            "",
            *_times_table(scenarios),
            "",
            "Scaling of the same batch (merge seconds, smallest vs largest target):",
            "",
            "| batch rows | merge, small target | merge, large target | ratio | full rewrite ratio |",
            "|---|---|---|---|---|",
            *scaling_lines,
            "",
            "Peak memory of the Spark driver during our merge job into the largest target "
            f"(method: {sampled.rss_method if sampled else '-'} for the resident set; heap = summed peaks of "
            "the JVM's heap pools, reset before the job):",
            "",
            "| target rows | batch rows | resident set peak | heap peak | heap max |",
            "|---|---|---|---|---|",
            *memory_lines,
            "",
            *_profile_lines(profile, key_scenario),
        ]
    )
    out.raw = {
        "scenarios": [s.to_dict() for s in scenarios],
        "profile": profile.to_dict(),
        "counts_match": counts_ok,
    }
    return out
