"""The ordered list of sections ``make bench`` runs: a new section is a module listed here.

The registry imports the sections; sections never import it (they build on ``bench.section``).
"""

from __future__ import annotations

from bench.dag_parse import DagParseSection
from bench.latency import LatencySection
from bench.merge_bench import MergeSection
from bench.orchestration import OrchestrationSection
from bench.section import Section
from bench.stage_ingest import StageIngestSection


def sections() -> list[Section]:
    """The sections of a full run, in page order."""
    return [StageIngestSection(), MergeSection(), DagParseSection(), LatencySection(), OrchestrationSection()]
