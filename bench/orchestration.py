"""Section 5, orchestration cost: cluster starts and Databricks API calls per DAG run, counted by the
local runner over the end-to-end section's runs (``docs/benchmarks-notes.md``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from bench import live_runs
from bench.section import BenchContext, SectionResult, table


def _text(values: Sequence[int]) -> str:
    low, high, mid = min(values), max(values), statistics.median(values)
    return f"{mid:g}" if low == high else f"{mid:g} ({low}-{high})"


class OrchestrationSection:
    name = "orchestration"
    title = "Orchestration cost: cluster starts and Databricks API calls per DAG run"

    def run(self, ctx: BenchContext) -> SectionResult:
        runs = live_runs.measure(ctx)
        uploads = runs.uploads
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
            name = endpoint.replace("/", "_").replace("-", "_")
            out.add(f"orchestration_calls_{name}", statistics.median(values), "calls")
        out.add("orchestration_spark_jobs_per_run", statistics.median(jobs), "jobs")
        out.add("orchestration_idle_api_calls", idle, "calls")
        out.check(
            "one cluster start per DAG run",
            f"{_text(starts)} per run over {len(uploads)} run(s)",
            all(n == 1 for n in starts),
            f"{max(starts) - 1} extra start(s) in the worst run",
        )
        poll = runs.settings.get("ORDER_TRACKING_DATABRICKS_POLL_SECONDS", "?")
        rows = [
            ("cluster starts", _text(starts)),
            ("Databricks API calls, all endpoints", _text(totals)),
            ("Spark jobs run (stage_load, merge)", _text(jobs)),
        ]
        out.markdown = "\n\n".join(
            [
                f"Per DAG run of the {len(uploads)} upload(s) of the end-to-end latency section, counted by "
                "the local runner between the upload and the run's end; the Databricks trigger polled every "
                f"{poll} s.",
                table("per DAG run | median (min-max)", rows),
                table(
                    "endpoint | calls per run, median (min-max)",
                    [(f"`{e}`", _text(v)) for e, v in per_endpoint.items()],
                ),
                f"Calls while no object was waiting (runs that found nothing), in total: {idle}. Clusters "
                f"still running after a run ended: {left_running}.",
            ]
        )
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
