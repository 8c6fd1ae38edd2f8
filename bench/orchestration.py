"""Section 5, orchestration cost: cluster starts and Databricks API calls per DAG run.

Counted by the local Databricks runner itself (``LocalDatabricks.stats()``: every ``/api/`` request
by endpoint, and the clusters a request would start on Databricks), as deltas over each DAG run of
the end-to-end section's uploads (``bench.live_runs``), so every call Airflow makes for a run is
counted, retries included, and nothing else is: runs never overlap. Calls made while no object was
waiting (runs whose sensor found nothing) are counted separately.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench import live_runs
from bench.live_runs import LiveRuns, Upload
from bench.registry import BenchContext, SectionResult, TargetCheck

# Who makes each call (plugins/order_tracking/cluster.py, databricks_submit.py and the provider).
CALLERS = {
    "clusters/create": "start_cluster",
    "clusters/permanent-delete": "stop_cluster (teardown)",
    "clusters/delete": "stop_cluster",
    "runs/submit": "stage_load, merge: one submission each",
    "runs/get": "stage_load, merge: the operator after submitting, the deferred trigger's polls, the result",
    "runs/get-output": "a failed step's error",
    "runs/cancel": "a killed step",
}


def _text(values: Sequence[int]) -> str:
    low, high, mid = min(values), max(values), statistics.median(values)
    return f"{mid:g}" if low == high else f"{mid:g} ({low}-{high})"


class OrchestrationSection:
    name = "orchestration"
    title = "Orchestration cost: cluster starts and Databricks API calls per DAG run"

    def run(self, ctx: BenchContext) -> SectionResult:
        return self._result(live_runs.measure(ctx))

    def _result(self, runs: LiveRuns) -> SectionResult:
        uploads: Sequence[Upload] = runs.uploads
        starts = [u.cluster_starts for u in uploads]
        totals = [sum(u.api_calls.values()) for u in uploads]
        endpoints = sorted({e for u in uploads for e in u.api_calls})
        per_endpoint = {e: [u.api_calls.get(e, 0) for u in uploads] for e in endpoints}
        jobs = [len(u.spark) for u in uploads]
        idle = sum(sum(u.idle_api_calls.values()) for u in uploads)
        left_running = max(u.clusters_running_after for u in uploads)

        out = SectionResult(self.name, self.title)
        out.add("orchestration_dag_runs", len(uploads), "runs")
        out.add("orchestration_cluster_starts_per_run", statistics.median(starts), "starts")
        out.add("orchestration_api_calls_per_run", statistics.median(totals), "calls")
        for endpoint, values in per_endpoint.items():
            out.add(
                f"orchestration_calls_{endpoint.replace('/', '_').replace('-', '_')}",
                statistics.median(values),
                "calls",
            )
        out.add("orchestration_spark_jobs_per_run", statistics.median(jobs), "jobs")
        out.add("orchestration_idle_api_calls", idle, "calls")

        ok = all(n == 1 for n in starts)
        out.checks.append(
            TargetCheck(
                target="one cluster start per DAG run",
                measured=f"{_text(starts)} per run over {len(uploads)} run(s)",
                passed=ok,
                gap="" if ok else f"{max(starts) - 1} extra start(s) in the worst run",
                diagnosis=""
                if ok
                else "Cluster starts per endpoint and run are in the JSON (`raw.runs`): a start from "
                "`runs/submit` means a step asked for a `new_cluster` instead of the run's cluster.",
            )
        )
        poll = runs.settings.get("ORDER_TRACKING_DATABRICKS_POLL_SECONDS", "?")
        lines = [
            f"Per DAG run of the {len(uploads)} upload(s) of the end-to-end latency section (one object "
            "each, every run loaded it), counted by the local runner between the upload and the run's end. "
            "The runner counts a "
            "cluster start for `clusters/create`, for each `new_cluster` / job cluster of a submission, and "
            "for a submission that has to restart a terminated cluster.",
            "",
            "| per DAG run | median (min-max) |",
            "|---|---|",
            f"| cluster starts | {_text(starts)} |",
            f"| Databricks API calls, all endpoints | {_text(totals)} |",
            f"| Spark jobs run (stage_load, merge) | {_text(jobs)} |",
            "",
            "| endpoint | calls per run, median (min-max) | made by |",
            "|---|---|---|",
        ]
        lines += [f"| `{e}` | {_text(v)} | {CALLERS.get(e, '-')} |" for e, v in per_endpoint.items()]
        lines += [
            "",
            f"`runs/get` grows with the steps' duration: the deferred trigger polls every {poll} s "
            "(`ORDER_TRACKING_DATABRICKS_POLL_SECONDS`; 30 s by default on Composer, where the same steps "
            f"make fewer polls). Runs that found nothing to load made {idle} call(s) in total while the "
            "benchmark waited between uploads (no cluster, no Spark step). "
            + (
                "No cluster was left running after a run: the teardown deleted each run's cluster."
                if left_running == 0
                else f"{left_running} cluster(s) were still running after a run ended: the teardown did not "
                "delete them."
            ),
        ]
        out.markdown = "\n".join(lines)
        out.raw = {
            "cluster_starts": starts,
            "api_calls_total": totals,
            "api_calls": per_endpoint,
            "spark_jobs": jobs,
            "idle_api_calls": idle,
            "clusters_running_after": left_running,
            "runs": [
                {"run_id": u.run_id, "cluster_starts": u.cluster_starts, "api_calls": u.api_calls}
                for u in uploads
            ],
        }
        return out
