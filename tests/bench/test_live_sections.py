"""The pure parts of the end-to-end sections and of the page: no Spark, no Airflow.

The latency breakdown must account for the whole latency whatever the timeline, a run of some
sections must keep the other sections an earlier run left on the page, and every section the page
links to has its heading in the hand-written notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench import report
from bench.latency import PATH, Breakdown, critical_path
from bench.live_runs import SparkSpan, TaskSpan, Upload, contract_object
from bench.registry import sections

T0 = 1_800_000_000.0


def _upload(sensor_start: float) -> Upload:
    """An upload at T0 whose run's tasks follow each other with 1 s starts and 2 s runs."""
    tasks: list[TaskSpan] = []
    spark: list[SparkSpan] = []
    clock = T0 + 3
    tasks.append(TaskSpan(PATH[0], -1, "success", 1, T0 + sensor_start, clock))
    for task_id in PATH[1:]:
        start, end = clock + 1, clock + 3
        if task_id in ("stage_load", "merge"):
            end = clock + 10
            spark.append(SparkSpan(task_id, len(spark) + 1, start + 0.5, start + 6))
        tasks.append(TaskSpan(task_id, -1, "success", 1, start, end))
        clock = end
    tasks.append(TaskSpan("stop_cluster", -1, "success", 1, clock + 1, clock + 2))
    return Upload(
        index=0,
        object_name="staging_zn/x.csv",
        expected_keys=8,
        pause_seconds=0.0,
        load_average=1.0,
        uploaded_at=T0,
        visible_at=clock - 4,  # the merge committed before its task noticed
        target_version=3,
        run_id="scheduled__x",
        run_end=clock + 5,
        tasks=tuple(tasks),
        spark=tuple(spark),
        cluster_starts=1,
        api_calls={"clusters/create": 1, "runs/submit": 2, "runs/get": 9},
        idle_api_calls={},
        clusters_running_after=0,
    )


@pytest.mark.parametrize("sensor_start", [-20.0, 2.0])  # a run was sensing / none was
def test_critical_path_adds_up_to_the_latency(sensor_start: float) -> None:
    upload = _upload(sensor_start)
    segments = critical_path(upload)
    assert sum(s.seconds for s in segments) == pytest.approx(upload.latency)
    assert all(s.seconds >= 0 for s in segments)
    waiting = next(s for s in segments if s.key == "pickup.wait_for_run")
    assert waiting.seconds == pytest.approx(max(0.0, sensor_start))
    breakdown = Breakdown.of([upload])
    assert breakdown.median_of("scheduling") == pytest.approx(len(PATH) - 1)  # 1 s per task start
    assert breakdown.median_of("poll") == pytest.approx(3.0)  # stage_load: job end to task end


def test_contract_object_prefixes_keys_and_counts_loadable_ones() -> None:
    data, records, keys = contract_object(200, seed=1, key_prefix="BTEST01-")
    lines = data.decode().splitlines()
    assert records == len(lines) - 1 == 200
    assert all(line.startswith("BTEST01-") for line in lines[1:])
    assert 0 < len(keys) <= 200
    assert all(key.startswith("BTEST01-") for key in keys)


def _section(title: str, markdown: str, date: str) -> dict[str, Any]:
    check = {"target": f"{title} target", "measured": "1", "passed": False, "gap": "2x short"}
    return {
        "title": title,
        "figures": [],
        "checks": [check],
        "raw": {},
        "markdown": markdown,
        "measured": {"date": date, "scale": "1 (full scale)", "smoke": False, "repeats": 3},
    }


def _document(sections: dict[str, dict[str, Any]], date: str) -> dict[str, Any]:
    machine = dict.fromkeys(("cores", "memory_gib", "cpu", "os", "python", "java", "spark", "delta"), "x")
    machine |= {"airflow": "x", "spark_master": "local[2]", "spark_driver_memory": "4g", "date": date}
    machine |= {"spark_shuffle_partitions": "4", "spark_adaptive": "true", "spark_broadcast_threshold": "10m"}
    config = {"smoke": False, "scale": 1.0, "repeats": 3}
    return {"config": config, "machine": machine, "sections": sections, "errors": {}}


def test_a_partial_run_keeps_the_other_sections(tmp_path: Path) -> None:
    earlier = _document(
        {
            "stage": _section("Stage", "stage table", "day 1"),
            "merge": _section("Merge", "merge table", "day 1"),
        },
        "day 1",
    )
    earlier["errors"] = {"latency": "Traceback: no stack"}
    latest = _document({"latency": _section("Latency", "latency table", "day 2")}, "day 2")
    order = ["stage", "merge", "dag_parse", "latency", "orchestration"]

    merged = report.merge_documents(earlier, latest, order)
    assert list(merged["sections"]) == ["stage", "merge", "latency"]
    assert merged["errors"] == {}  # the re-run section's old failure is gone
    page = report.render_document(merged, None)
    assert "## 3. Latency" in page
    assert "stage table" in page
    assert "*Measured day 1; scale: 1 (full scale).*" in page  # sections from two runs name theirs
    assert "| Stage target | 1 | **miss** | 2x short ([notes](benchmarks-notes.md#stage)) |" in page


def test_every_section_links_to_its_heading_in_the_notes() -> None:
    notes = (Path(__file__).resolve().parents[2] / "docs" / report.NOTES).read_text()
    headings = {
        line[3:].strip().lower().replace(" ", "-") for line in notes.splitlines() if line.startswith("## ")
    }
    for section in sections():
        assert report.notes_link(section.title).split("#")[1] in headings, section.title
