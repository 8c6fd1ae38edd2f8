"""The result documents the Spark jobs write next to the manifest, and the DAG reads back.

``stage_result.json`` (the stage job)::

    {"batch_id": str, "schema_policy": "add" | "rescue" | "fail", "dry_run": bool,
     "objects": [{"name": str, "outcome": "loaded" | "quarantined" | "duplicate",
                  "destination": "archive" | "quarantine", "records_read": int, "rows_loaded": int,
                  "rows_rejected": int, "reason": str | null, "detail": str | null,
                  "duplicate_of": str | null}, ...],          # in manifest order
     "reject_reasons": {reason: rows, ...},
     "records_read": int, "rows_staged": int, "rows_rejected": int}   # totals of "objects"

``merge_result.json`` (the merge job)::

    {"batch_id": str, "rows_loaded": int, "keys_in_batch": int, "superseded_in_batch": int,
     "inserted": int, "updated": int, "stale_skipped": int, "target_rows": int,
     "target_version": int}

Neither carries a version: fields are only ever added, and readers ignore fields they do not know.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from batch_documents._fields import Fields, dumps, json_object
from batch_documents.errors import BadFieldError
from batch_documents.vocabulary import Destination, Outcome, SchemaPolicy

STAGE_RESULT = "stage result"
MERGE_RESULT = "merge result"
_TOTALS = ("records_read", "rows_staged", "rows_rejected")


@dataclass(frozen=True)
class ObjectOutcome:
    """What happened to one object; ``destination`` tells the DAG where to move its batch copy."""

    name: str
    outcome: Outcome
    destination: Destination
    records_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    reason: str | None = None
    detail: str | None = None
    duplicate_of: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        object.__setattr__(self, "destination", Destination(self.destination))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"outcome": self.outcome.value, "destination": self.destination.value}

    @classmethod
    def from_fields(cls, read: Fields) -> ObjectOutcome:
        """One entry of a stage result's ``objects``; a stage job never sends an object to DISCARD."""
        destination = read.word("destination", Destination)
        if destination is Destination.DISCARD:
            where = read.name("destination")
            raise BadFieldError(STAGE_RESULT, where, destination.value, "archive or quarantine")
        return cls(
            name=read.text("name"),
            outcome=read.word("outcome", Outcome),
            destination=destination,
            records_read=read.count("records_read", 0),
            rows_loaded=read.count("rows_loaded", 0),
            rows_rejected=read.count("rows_rejected", 0),
            reason=read.optional_text("reason"),
            detail=read.optional_text("detail"),
            duplicate_of=read.optional_text("duplicate_of"),
        )


@dataclass(frozen=True)
class StageResult:
    """The stage job's verdict on a batch: one outcome per object, in manifest order."""

    batch_id: str
    schema_policy: SchemaPolicy
    objects: tuple[ObjectOutcome, ...] = ()
    dry_run: bool = False
    reject_reasons: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "schema_policy", SchemaPolicy(self.schema_policy))
        object.__setattr__(self, "objects", tuple(self.objects))
        object.__setattr__(self, "reject_reasons", dict(self.reject_reasons))

    @property
    def records_read(self) -> int:
        return sum(o.records_read for o in self.objects)

    @property
    def rows_staged(self) -> int:
        return sum(o.rows_loaded for o in self.objects)

    @property
    def rows_rejected(self) -> int:
        return sum(o.rows_rejected for o in self.objects)

    def count(self, outcome: Outcome) -> int:
        """How many objects ended with ``outcome``."""
        return sum(o.outcome is outcome for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "schema_policy": self.schema_policy.value,
            "dry_run": self.dry_run,
            "objects": [o.to_dict() for o in self.objects],
            "reject_reasons": dict(self.reject_reasons),
            "records_read": self.records_read,
            "rows_staged": self.rows_staged,
            "rows_rejected": self.rows_rejected,
        }

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> StageResult:
        """Read a stage result; the totals, when present, must agree with the objects.

        Raises:
            MissingFieldError: a required field is absent (named, e.g. ``objects[1].outcome``).
            BadFieldError: a field has the wrong type or is outside its vocabulary, or a total
                disagrees with its objects.
        """
        read = Fields(STAGE_RESULT, doc)
        batch_id = read.text("batch_id")
        policy = read.word("schema_policy", SchemaPolicy)
        objects = tuple(
            ObjectOutcome.from_fields(read.item("objects", index, item))
            for index, item in enumerate(read.items("objects"))
        )
        result = cls(
            batch_id=batch_id,
            schema_policy=policy,
            objects=objects,
            dry_run=read.flag("dry_run", False),
            reject_reasons=read.counts("reject_reasons"),
        )
        for total in _TOTALS:
            expected = getattr(result, total)
            if total in doc and read.count(total) != expected:
                raise BadFieldError(STAGE_RESULT, total, doc[total], f"{expected}, the sum over its objects")
        return result

    @classmethod
    def from_json(cls, text: str | bytes) -> StageResult:
        """:meth:`from_dict` of a JSON text; also raises NotJsonError."""
        return cls.from_dict(json_object(STAGE_RESULT, text))


@dataclass(frozen=True)
class MergeResult:
    """The merge job's counts for a batch. ``inserted + updated + stale_skipped +
    superseded_in_batch == rows_loaded`` (the merge job checks it before writing the result)."""

    batch_id: str
    rows_loaded: int
    keys_in_batch: int
    superseded_in_batch: int
    inserted: int
    updated: int
    stale_skipped: int
    target_rows: int
    target_version: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return dumps(self.to_dict())

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> MergeResult:
        """Read a merge result. Raises MissingFieldError or BadFieldError naming the field."""
        read = Fields(MERGE_RESULT, doc)
        batch_id = read.text("batch_id")
        return cls(batch_id, **{f.name: read.count(f.name) for f in fields(cls) if f.name != "batch_id"})

    @classmethod
    def from_json(cls, text: str | bytes) -> MergeResult:
        """:meth:`from_dict` of a JSON text; also raises NotJsonError."""
        return cls.from_dict(json_object(MERGE_RESULT, text))
