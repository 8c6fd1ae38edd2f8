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
    "What would close the gap, in spark_tasks/merge.py (semantics unchanged): (1) take the stale "
    "count from the MERGE's own metrics, stale = numSourceRows - numTargetRowsInserted - "
    "numTargetRowsUpdated (every pre-reduced batch row inserts, updates, or matched a newer-or-equal "
    "row), instead of `count_stale`'s second join of the batch with the whole previous snapshot, and "
    "let `reconcile` check numSourceRows against the job's own key count, so the counts stay checked "
    "against an independent number; keep `count_stale` only where Delta wrote no commit; (2) find the "
    "batch's MERGE commit once, and after the MERGE read `history(1)` rather than `history(500)` "
    "again; (3) take rows loaded from the ledger the stage job wrote instead of counting the stage "
    "table. Layout (Z-order or liquid clustering on tracking_num) would only help if a batch's keys "
    "were clustered; ours are spread over the key range as real tracking numbers are, so every file "
    "holds a matched key."
)


def rewrite_diagnosis(scenario: Scenario, profile: Profile) -> str:
    from bench.merge_bench import OURS, REWRITE

    job, command = _command_seconds(scenario)
    cost = scenario.methods[OURS].cost
    rewrite = scenario.seconds(REWRITE)
    touched = cost.deletion_vectors_added + cost.files_removed
    return (
        f"Our job took {fmt_seconds(job)}; Delta's MERGE command inside it {fmt_seconds(command)} "
        f"(scan {cost.merge_scan_ms / 1000:.1f} s, rewrite {cost.merge_rewrite_ms / 1000:.1f} s), which "
        f"alone is {rewrite / command if command else float('inf'):.1f}x faster than the full rewrite "
        f"({fmt_seconds(rewrite)}). The other {fmt_seconds(max(job - command, 0.0))} is the job's "
        "bookkeeping around the MERGE, a dozen Spark actions each paying Delta's log replay and job "
        f"start-up on 2 cores; the longest: {_bookkeeping(profile)}. The stale count alone, a join of "
        "the batch with the whole previous snapshot, took "
        f"{fmt_seconds(profile.count_stale_seconds)}. The MERGE touched {touched} of "
        f"{scenario.layout.files} files: the updated keys are spread over the table and open-source Delta "
        "has no dynamic file pruning, so it joins the batch with the whole target to find them; with "
        f"deletion vectors it then writes only the changed rows ({cost.rows_written:,} rows, "
        f"{cost.rows_copied:,} copied). " + CLOSE_THE_GAP
    )


def scaling_diagnosis(small: Scenario, large: Scenario, profile: Profile) -> str:
    small_job, small_cmd = _command_seconds(small)
    large_job, large_cmd = _command_seconds(large)
    return (
        f"Delta's MERGE command went from {fmt_seconds(small_cmd)} to {fmt_seconds(large_cmd)} "
        f"({large_cmd / small_cmd if small_cmd else float('inf'):.1f}x) and the rest of the job from "
        f"{fmt_seconds(max(small_job - small_cmd, 0.0))} to {fmt_seconds(max(large_job - large_cmd, 0.0))}. "
        "Both grow with the table: the MERGE joins the batch with every file to find matched keys (they are "
        "spread over all files), and the stale count joins it with the whole previous snapshot "
        f"({fmt_seconds(profile.count_stale_seconds)} alone at the large target). " + CLOSE_THE_GAP
    )
