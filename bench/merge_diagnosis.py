"""What the page says when a merge target is missed: what dominated, measured, and what would help."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.timing import fmt_seconds

if TYPE_CHECKING:
    from bench.merge_bench import Profile, Scenario


def _command_seconds(scenario: Scenario) -> tuple[float, float]:
    """(our job's median seconds, Delta's MERGE command's own executionTimeMs in seconds)."""
    from bench.merge_bench import OURS

    return scenario.seconds(OURS), scenario.methods[OURS].cost.merge_execution_ms / 1000


def _bookkeeping(profile: Profile) -> str:
    """The longest SQL executions of our job that are not the MERGE command itself."""
    others = [
        e for e in profile.executions if "MERGE" not in e.description and "DeltaMerge" not in e.description
    ]
    return "; ".join(f"{e.description} {e.seconds:.1f} s" for e in others[:4]) or "-"


CLOSE_THE_GAP = (
    "What is left is the MERGE's write phase, which grows with the number of files the batch "
    "touches. The job's own bookkeeping is already trimmed: the stale count comes from the MERGE's "
    "metrics (numSourceRows - inserted - updated, with numSourceRows checked against the job's own "
    "key count) instead of a join of the batch with the whole previous snapshot, and the commit is "
    "found with `history(1)` after the MERGE. The stage-table count stays: it is the independent "
    "number the ledger is reconciled against. Only fewer touched files would shrink the write "
    "phase, i.e. a target clustered on a column the batch's keys share (liquid clustering or "
    "Z-order on tracking_num helps only if a batch's tracking numbers are close together, for "
    "example if they followed parcel creation time; ours are spread over the key range, so every "
    "file holds a matched key). On Databricks, dynamic file pruning and Photon's MERGE, which "
    "open-source Delta lacks, act on exactly this phase."
)


def _write_phase(profile: Profile) -> str:
    """The MERGE's write phase and its join strategy, the usual hot spot, if the profile caught it."""
    phase = next((e for e in profile.executions if "Writing modified data" in e.description), None)
    if phase is None:
        return ""
    text = f"Inside the MERGE, the write phase ('{phase.description}') took {phase.seconds:.1f} s"
    if "SortMergeJoin" not in phase.joins:
        return text + f" ({', '.join(phase.joins) or 'no join'}). "
    return (
        text + " with a sort-merge join: a MERGE with both an update and an insert clause joins batch "
        "and target with an outer join, which Spark does not broadcast, so every touched target file is "
        "read, shuffled and sorted (the scan for matches before it is a broadcast hash join). A "
        "`F.broadcast` hint on the MERGE source does not change that: tried on this target, the write "
        "phase stayed a sort-merge join and the job was no faster. A shuffled hash join instead "
        "(`spark.sql.join.preferSortMergeJoin=false`, or AQE's "
        "`maxShuffledHashJoinLocalMapThreshold`) saves the sort but not the scan and shuffle of every "
        "target row: tried on this target, 32-38 s against 38 s, within the spread. "
    )


def rewrite_diagnosis(scenario: Scenario, profile: Profile) -> str:
    from bench.merge_bench import OURS, REWRITE

    job, command = _command_seconds(scenario)
    cost = scenario.methods[OURS].cost
    rewrite = scenario.seconds(REWRITE)
    touched = cost.deletion_vectors_added + cost.files_removed
    ours_t, rewrite_t = scenario.methods[OURS].timing, scenario.methods[REWRITE].timing
    spread = ""
    if max(ours_t.max / ours_t.min, rewrite_t.max / rewrite_t.min) > 2:
        fastest = rewrite_t.min / ours_t.min
        spread = (
            f"The runs spread widely (ours {ours_t.text()}, rewrite {rewrite_t.text()}; other load on "
            f"the machine); by the fastest run of each the ratio is {fastest:.2f}x, so "
            + ("the miss does not rest on the medians. " if fastest < 5 else "it would pass on those. ")
        )
    return (
        spread + f"Our job's median is {fmt_seconds(job)}. In its profiled last repetition "
        f"({fmt_seconds(profile.job_seconds)}), Delta's MERGE command took {fmt_seconds(command)} "
        f"(scan {cost.merge_scan_ms / 1000:.1f} s, rewrite {cost.merge_rewrite_ms / 1000:.1f} s), "
        f"{rewrite / command if command else float('inf'):.1f}x less than the full rewrite's median "
        f"({fmt_seconds(rewrite)}) and {rewrite_t.min / command if command else float('inf'):.1f}x less "
        f"than its fastest run; the other {fmt_seconds(max(profile.job_seconds - command, 0.0))} "
        "was the job's "
        "bookkeeping around the MERGE, Spark actions each paying Delta's log replay and job "
        f"start-up on 2 cores; the longest: {_bookkeeping(profile)}. "
        + _write_phase(profile)
        + f"The MERGE touched {touched} of "
        f"{scenario.layout.files} files: the updated keys are spread over the table and open-source Delta "
        "has no dynamic file pruning, so it joins the batch with the whole target to find them; with "
        f"deletion vectors it then writes only the changed rows ({cost.rows_written:,} rows, "
        f"{cost.rows_copied:,} copied). " + CLOSE_THE_GAP
    )


def scaling_diagnosis(small: Scenario, large: Scenario) -> str:
    small_job, small_cmd = _command_seconds(small)
    large_job, large_cmd = _command_seconds(large)
    return (
        f"Delta's MERGE command went from {fmt_seconds(small_cmd)} to {fmt_seconds(large_cmd)} "
        f"({large_cmd / small_cmd if small_cmd else float('inf'):.1f}x) and the rest of the job from "
        f"{fmt_seconds(max(small_job - small_cmd, 0.0))} to {fmt_seconds(max(large_job - large_cmd, 0.0))}. "
        "The MERGE grows with the table: it joins the batch with every file to find matched keys (they "
        "are spread over all files). " + CLOSE_THE_GAP
    )
