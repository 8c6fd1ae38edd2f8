"""The batch manifest: what one DAG run loads, frozen when the batch is cut.

The DAG writes it once per batch (``_batches/<batch_id>/manifest.json``) and hands the Spark jobs
only its URI: Databricks caps a task's parameters at about 10,000 bytes, and a manifest written
once makes every retry see the same batch. The wire format (version 2)::

    {"version": 2, "batch_id": str, "bucket": str, "created_at": ISO 8601 date-time,
     "mode": "incremental" | "objects" | "replay", "dry_run": bool,
     "objects": [entry, ...],    # the CSV objects, oldest first
     "not_csv": [entry, ...],    # claimed, never read: quarantined as not_csv
     "results": {"stage": URI of the stage result, "merge": URI of the merge result}}
    entry = {"name": str, "generation": str | null, "size": int | null, "md5_hash": str | null,
             "crc32c": str | null, "created": ISO 8601 text | null, "snapshot": str (if claimed)}

Version 1 (the first releases) has no ``snapshot`` (the jobs read the objects by name) and lists
``not_csv`` objects by name only; the earliest version 1 documents have no ``mode``, ``dry_run``
nor ``not_csv`` (an incremental, loading run). Both versions are read; version 2 is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batch_documents._fields import Fields, dumps, json_object
from batch_documents.errors import BadFieldError, UnsupportedVersionError
from batch_documents.vocabulary import RunMode

MANIFEST = "manifest"
MANIFEST_VERSION = 2  # 2: each object names its batch copy ("snapshot"); not_csv lists entries
ACCEPTED_MANIFEST_VERSIONS = (1, 2)


def gcs_uri(bucket: str, name: str) -> str:
    return f"gs://{bucket}/{name}"


@dataclass(frozen=True)
class ManifestObject:
    """One object of the batch.

    ``name`` and ``generation`` identify the object the batch claimed (the ledger and lineage
    record them; moves go by them). ``snapshot`` is the batch's own copy of exactly that generation
    (version 2), whose name is safe for Spark's path handling. Two values are not on the wire but
    resolved when the manifest is read: ``seq``, the object's place in its list (1 = oldest), and
    ``uri``, where the jobs read its bytes: ``gs://<bucket>/<snapshot, or name for version 1>``.
    ``created`` is the creation time as GCS reported it (ISO 8601 text).
    """

    seq: int
    name: str
    uri: str
    generation: str | None
    size: int | None
    md5_hash: str | None
    crc32c: str | None
    created: str | None
    snapshot: str | None = None

    @classmethod
    def in_bucket(
        cls,
        bucket: str,
        seq: int,
        name: str,
        *,
        generation: str | None = None,
        size: int | None = None,
        md5_hash: str | None = None,
        crc32c: str | None = None,
        created: str | None = None,
        snapshot: str | None = None,
    ) -> ManifestObject:
        """An object of ``bucket``, its ``uri`` resolved as reading a manifest resolves it."""
        uri = gcs_uri(bucket, snapshot or name)
        return cls(seq, name, uri, generation, size, md5_hash, crc32c, created, snapshot)

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry (``snapshot`` only once claimed; ``seq`` and ``uri`` are not written)."""
        entry: dict[str, Any] = {
            "name": self.name,
            "generation": self.generation,
            "size": self.size,
            "md5_hash": self.md5_hash,
            "crc32c": self.crc32c,
            "created": self.created,
        }
        if self.snapshot is not None:
            entry["snapshot"] = self.snapshot
        return entry

    @classmethod
    def from_fields(cls, read: Fields, bucket: str, seq: int) -> ManifestObject:
        """The entry ``read`` of a manifest of ``bucket``, ``seq``-th of its list."""
        return cls.in_bucket(
            bucket,
            seq,
            read.text("name"),
            generation=read.optional_text("generation"),
            size=read.optional_count("size"),
            md5_hash=read.optional_text("md5_hash"),
            crc32c=read.optional_text("crc32c"),
            created=read.optional_text("created"),
            snapshot=read.optional_text("snapshot"),
        )


@dataclass(frozen=True)
class Manifest:
    """A batch: the objects to load, how, when it was cut, and where the jobs report their results."""

    batch_id: str
    bucket: str
    created_at: datetime
    objects: tuple[ManifestObject, ...]
    stage_result_uri: str
    merge_result_uri: str
    mode: RunMode = RunMode.INCREMENTAL
    dry_run: bool = False
    not_csv: tuple[ManifestObject, ...] = ()
    version: int = MANIFEST_VERSION
    run_id: str | None = None  # the Airflow run that cut the batch; absent from older manifests

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", RunMode(self.mode))  # "replay" given as text is RunMode.REPLAY

    @property
    def is_replay(self) -> bool:
        """Archived objects loaded again: re-delivery (duplicate) checks against the ledger are off."""
        return self.mode is RunMode.REPLAY

    @property
    def moves_objects(self) -> bool:
        """A loading run: its originals give way to the batch copies, which then go to archive or
        quarantine. Dry runs (the feed is left as found) and replays (already archived) move none."""
        return not self.dry_run and not self.is_replay

    @property
    def object_uris(self) -> list[str]:
        return [obj.uri for obj in self.objects]

    @property
    def entries(self) -> tuple[ManifestObject, ...]:
        """Every claimed object: the CSV objects, then the not-CSV ones."""
        return self.objects + self.not_csv

    def to_dict(self) -> dict[str, Any]:
        """The wire document of :attr:`version` (``not_csv`` as names in version 1)."""
        not_csv: list[Any] = [obj.name if self.version == 1 else obj.to_dict() for obj in self.not_csv]
        return {
            "version": self.version,
            "batch_id": self.batch_id,
            "bucket": self.bucket,
            "created_at": self.created_at.isoformat(),
            "mode": self.mode.value,
            "dry_run": self.dry_run,
            "not_csv": not_csv,
            "objects": [obj.to_dict() for obj in self.objects],
            "results": {"stage": self.stage_result_uri, "merge": self.merge_result_uri},
        } | ({"run_id": self.run_id} if self.run_id is not None else {})

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Manifest:
        """Read a manifest of an accepted version.

        Raises:
            UnsupportedVersionError: ``version`` is missing or not in ACCEPTED_MANIFEST_VERSIONS.
            MissingFieldError: a required field is absent (named, e.g. ``objects[0].name``).
            BadFieldError: a field has the wrong type, or ``mode`` is not a RunMode.
        """
        read = Fields(MANIFEST, doc)
        version = doc.get("version")
        if type(version) is not int or version not in ACCEPTED_MANIFEST_VERSIONS:
            raise UnsupportedVersionError(MANIFEST, version, ACCEPTED_MANIFEST_VERSIONS)
        batch_id, bucket = read.text("batch_id"), read.text("bucket")
        created_at = read.instant("created_at")
        mode, dry_run = read.word("mode", RunMode, RunMode.INCREMENTAL), read.flag("dry_run", False)
        objects = tuple(_entries(read.items("objects"), read, "objects", bucket, names_allowed=False))
        listed_not_csv = read.items("not_csv", default=[])
        not_csv = tuple(_entries(listed_not_csv, read, "not_csv", bucket, names_allowed=version == 1))
        results = read.nested("results")
        return cls(
            batch_id=batch_id,
            bucket=bucket,
            created_at=created_at,
            objects=objects,
            stage_result_uri=results.text("stage"),
            merge_result_uri=results.text("merge"),
            mode=mode,
            dry_run=dry_run,
            not_csv=not_csv,
            version=version,
            run_id=read.optional_text("run_id"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """:meth:`from_dict` of a JSON text; also raises NotJsonError."""
        return cls.from_dict(json_object(MANIFEST, text))


def _entries(
    items: list[Any], read: Fields, key: str, bucket: str, *, names_allowed: bool
) -> Iterable[ManifestObject]:
    """The entries of the list ``key``, numbered from 1; a bare name stands for an entry in version 1."""
    for index, item in enumerate(items):
        if isinstance(item, str) and names_allowed:
            yield ManifestObject.in_bucket(bucket, index + 1, item)
        elif isinstance(item, dict):
            yield ManifestObject.from_fields(read.item(key, index, item), bucket, index + 1)
        else:
            expected = "an object or a name" if names_allowed else "an object"
            raise BadFieldError(MANIFEST, f"{key}[{index}]", item, expected)
