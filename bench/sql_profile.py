"""Where a Spark action's time went: the SQL executions it ran, their durations and join strategies.

The Spark UI is off in our sessions, but the SQL status store still records every execution with
its physical plan; reading it after a run shows which internal query of a MERGE dominates and
whether its join was a broadcast or a shuffle (sort-merge) join, without a UI.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from pyspark.sql import SparkSession

_JOINS = ("BroadcastHashJoin", "SortMergeJoin", "ShuffledHashJoin", "BroadcastNestedLoopJoin")


@dataclass(frozen=True)
class Execution:
    """One SQL execution: its description, seconds, and the join operators in its final plan."""

    execution_id: int
    description: str
    seconds: float
    joins: tuple[str, ...]
    scans: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def last_execution_id(spark: SparkSession) -> int:
    executions = spark._jsparkSession.sharedState().statusStore().executionsList()
    return int(executions.apply(executions.size() - 1).executionId()) if executions.size() else -1


def executions_after(spark: SparkSession, execution_id: int) -> list[Execution]:
    """Completed SQL executions with an id above ``execution_id``, longest first."""
    executions = spark._jsparkSession.sharedState().statusStore().executionsList()
    found = []
    for index in range(executions.size()):
        data = executions.apply(index)
        if int(data.executionId()) <= execution_id or data.completionTime().isEmpty():
            continue
        seconds = (data.completionTime().get().getTime() - data.submissionTime()) / 1000.0
        plan = str(data.physicalPlanDescription())
        joins = tuple(sorted({j for j in _JOINS if j in plan}))
        scans = len(re.findall(r"^\(\d+\) Scan ", plan, flags=re.MULTILINE))
        description = " ".join(str(data.description()).split())[:110]
        found.append(Execution(int(data.executionId()), description, seconds, joins, scans))
    return sorted(found, key=lambda e: e.seconds, reverse=True)
