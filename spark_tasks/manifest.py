"""The batch manifest as the jobs read it: :mod:`batch_documents` (shared with the Airflow side).

A re-export kept for callers written before ``batch_documents`` (the benchmark harness); new code
imports ``batch_documents`` directly.
"""

from __future__ import annotations

from batch_documents import Manifest as BatchManifest
from batch_documents import ManifestObject

__all__ = ["BatchManifest", "ManifestObject"]
