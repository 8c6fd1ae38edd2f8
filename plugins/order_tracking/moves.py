"""The operator that archives and quarantines a batch's objects, by generation.

Not the Google provider's ``GCSToGCSOperator``: it copies and deletes by name only (no source
generation, no ``ifGenerationMatch`` / ``ifSourceGenerationMatch``), reads ``*`` in a source name
as a wildcard, and cannot give each object its own destination name (ours go from the batch copy
``<batch>/objects/<hash>-<generation>.csv`` back to the object's original name). This one carries
out the moves ``plan_moves`` planned (``order_tracking.archive``) with ``order_tracking.claims``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from order_tracking.compat import BaseOperator


class MoveObjectGenerationsOperator(BaseOperator):
    """Move each object from its batch copy to its archive or quarantine name, by generation.

    A destination already holding the same bytes counts as done, so a retry finishes a half-done
    group and moves nothing twice.
    """

    ui_color = "#f0eee4"

    def __init__(
        self,
        *,
        bucket: str,
        moves: Sequence[dict[str, Any]],
        gcp_conn_id: str = "google_cloud_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bucket = bucket
        self.moves = list(moves)
        self.gcp_conn_id = gcp_conn_id

    def execute(self, context: Any) -> dict[str, int]:
        from airflow.providers.google.cloud.hooks.gcs import GCSHook

        from order_tracking.claims import move_objects

        bucket = GCSHook(gcp_conn_id=self.gcp_conn_id).get_conn().bucket(self.bucket)
        outcomes = move_objects(bucket, self.moves)
        self.log.info("moves in gs://%s: %s", self.bucket, outcomes)
        return outcomes
