"""The batch manifest the DAG writes next to each batch, as the Spark jobs read it.

The DAG hands a job one manifest URI instead of a list of object names: Databricks caps a task's
parameters at about 10,000 bytes, and a manifest written once makes every retry see the same batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

SUPPORTED_VERSIONS = (1, 2)  # 2 adds each object's batch copy ("snapshot"), the bytes the jobs read
INCREMENTAL, OBJECTS, REPLAY = "incremental", "objects", "replay"
MODES = (INCREMENTAL, OBJECTS, REPLAY)


class ManifestError(ValueError):
    """The manifest is missing fields or has an unsupported version."""


@dataclass(frozen=True)
class ManifestObject:
    """One object of the batch; ``seq`` orders objects oldest first.

    ``name`` and ``generation`` identify the object the batch claimed (ledger and lineage use them);
    ``uri`` is where its bytes are read: the batch's own copy of exactly that generation (manifest
    version 2), whose name is safe for Spark's path handling, or the object itself (version 1).
    """

    seq: int
    name: str
    uri: str
    generation: str | None
    size: int | None
    md5_hash: str | None
    crc32c: str | None
    created: str | None


@dataclass(frozen=True)
class BatchManifest:
    """A batch: the objects to load, when it was cut, and where the jobs report their results."""

    batch_id: str
    bucket: str
    created_at: datetime
    objects: tuple[ManifestObject, ...]
    stage_result_uri: str
    merge_result_uri: str
    mode: str = INCREMENTAL
    dry_run: bool = False

    @property
    def is_replay(self) -> bool:
        """Archived objects loaded again: re-delivery (duplicate) checks against the ledger are off."""
        return self.mode == REPLAY

    @property
    def object_uris(self) -> list[str]:
        return [obj.uri for obj in self.objects]


def parse_manifest(text: str) -> BatchManifest:
    """Parse a manifest document, failing with a message that names the missing field."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as err:
        raise ManifestError(f"manifest is not valid JSON: {err}") from err
    version = doc.get("version")
    if version not in SUPPORTED_VERSIONS:
        raise ManifestError(
            f"manifest version {version!r} is not supported (expected one of {SUPPORTED_VERSIONS})"
        )
    mode = doc.get("mode", INCREMENTAL)
    if mode not in MODES:
        raise ManifestError(f"manifest mode {mode!r} is not one of {', '.join(MODES)}")
    try:
        bucket = doc["bucket"]
        objects = tuple(
            ManifestObject(
                seq=index,
                name=item["name"],
                uri=f"gs://{bucket}/{item.get('snapshot') or item['name']}",
                generation=item.get("generation"),
                size=item.get("size"),
                md5_hash=item.get("md5_hash"),
                crc32c=item.get("crc32c"),
                created=item.get("created"),
            )
            for index, item in enumerate(doc["objects"], start=1)
        )
        return BatchManifest(
            batch_id=doc["batch_id"],
            bucket=bucket,
            created_at=datetime.fromisoformat(doc["created_at"]),
            objects=objects,
            stage_result_uri=doc["results"]["stage"],
            merge_result_uri=doc["results"]["merge"],
            mode=mode,
            dry_run=bool(doc.get("dry_run", False)),
        )
    except KeyError as err:
        raise ManifestError(f"manifest lacks the field {err.args[0]!r}") from err
