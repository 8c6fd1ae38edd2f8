"""The batch documents: the typed language between the Airflow side and the Spark jobs.

- :class:`Manifest` (+ :class:`ManifestObject`): what a run loads; the DAG writes it, the jobs read it;
- :class:`StageResult` (+ :class:`ObjectOutcome`) and :class:`MergeResult`: what the jobs did;
  they write them, the DAG reads them;
- the words both sides use: :class:`RunMode`, :class:`Outcome`, :class:`Destination`,
  :class:`SchemaPolicy`; and :class:`TableNames`, the tables' default names.

Every document has ``to_dict`` / ``to_json`` and ``from_dict`` / ``from_json``; reading one that is
unusable raises a :class:`DocumentError` naming the document and the field at fault.

Pure Python (the standard library only): the Airflow plugins and the Spark wheel both ship it, so
it imports neither Airflow nor PySpark.
"""

from __future__ import annotations

from batch_documents.errors import (
    BadFieldError,
    DocumentError,
    MissingFieldError,
    NotJsonError,
    UnsupportedVersionError,
)
from batch_documents.manifest import (
    ACCEPTED_MANIFEST_VERSIONS,
    MANIFEST_VERSION,
    Manifest,
    ManifestObject,
    gcs_uri,
)
from batch_documents.results import MergeResult, ObjectOutcome, StageResult
from batch_documents.tables import TableNames
from batch_documents.vocabulary import Destination, Outcome, RunMode, SchemaPolicy

__all__ = [
    "ACCEPTED_MANIFEST_VERSIONS",
    "MANIFEST_VERSION",
    "BadFieldError",
    "Destination",
    "DocumentError",
    "Manifest",
    "ManifestObject",
    "MergeResult",
    "MissingFieldError",
    "NotJsonError",
    "ObjectOutcome",
    "Outcome",
    "RunMode",
    "SchemaPolicy",
    "StageResult",
    "TableNames",
    "UnsupportedVersionError",
    "gcs_uri",
]
