"""Production deployment, one command per side (run from the repo, in its venv):

- ``python -m deploy.databricks``: build the Spark jobs' wheel and upload it to the Unity Catalog
  volume path the DAG's ``libraries: [{"whl": wheel_uri}]`` names;
- ``python -m deploy.composer``: copy ``dags/`` and the ``plugins/`` packages into the Composer
  environment's bucket (and delete plugin modules the repo no longer has);
- ``python -m deploy.pubsub_notifications``: the Pub/Sub topic, the bucket's ``OBJECT_FINALIZE``
  notification for the staging prefix and the Airflow subscription of the event-driven start (with
  ``gcloud``), and the IAM bindings they need.

Each takes ``--dry-run``: each action is printed as one line (``upload SRC -> DEST (N bytes)``,
``delete DEST (N bytes)``, ``run gcloud ...``) and nothing is changed. Production tooling: it never imports
``local_stack`` or ``bench``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from order_tracking.config import PipelineConfig

REPO = Path(__file__).resolve().parent.parent
PLUGINS = REPO / "plugins"


class DeployError(Exception):
    """A deployment that cannot (or must not) go ahead; its message says why and what to do."""


def pipeline_config(overrides: Mapping[str, str] | None = None) -> PipelineConfig:
    """The DAG's configuration as the environment sets it (``ORDER_TRACKING_*``, else the defaults),
    with ``overrides`` (variable: value) taking the place of the environment's values.

    ``plugins/`` is put on ``sys.path`` first, as Airflow does for the plugins folder. Raises
    :class:`DeployError` naming the ``ORDER_TRACKING_*`` variable whose value the DAG could not
    parse either (``order_tracking.config.ConfigError`` names it), the two schedules included
    (``order_tracking.run_start.check_schedules``).
    """
    _plugins_on_path()
    from order_tracking.config import ConfigError, PipelineConfig
    from order_tracking.run_start import check_schedules

    environ = {**os.environ, **(overrides or {})}
    try:
        config = PipelineConfig.from_env(environ)
        check_schedules(config)
        return config
    except ConfigError as error:
        variable = error.variable or ""
        if variable in environ:
            setting = f"the environment variable {variable}={environ[variable]!r} is not valid"
        elif variable:
            setting = f"the environment variable {variable} is not set, and it is needed"
        else:
            setting = "a setting is not valid"
        raise DeployError(f"{setting}: {error} (the DAG reads it too: fix it)") from error


def staging_prefix_problem(prefix: str) -> str | None:
    """Why the DAG would refuse ``prefix`` as its staging prefix, or ``None``: the DAG's own rule,
    ``order_tracking.config.staging_prefix_problem``."""
    _plugins_on_path()
    from order_tracking.config import staging_prefix_problem as dag_rule

    return dag_rule(prefix)


def bucket_name_problem(name: str) -> str | None:
    """Why ``name`` is not a Cloud Storage bucket name, or ``None``: the DAG's own rule,
    ``order_tracking.config.bucket_name_problem``."""
    _plugins_on_path()
    from order_tracking.config import bucket_name_problem as dag_rule

    return dag_rule(name)


def _plugins_on_path() -> None:
    """Put ``plugins/`` on ``sys.path``, as Airflow does for its plugins folder."""
    if str(PLUGINS) not in sys.path:
        sys.path.insert(0, str(PLUGINS))


def timeout_seconds(text: str) -> int:
    """``--timeout`` of both tools: whole seconds, 1 to 3600 (the SDK's retry budget is a whole
    number of seconds). Raises ``argparse.ArgumentTypeError`` otherwise."""
    value = int(text) if text.isdigit() else 0
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"not a whole number of seconds from 1 to 3600: {text!r}")
    return value


def size_text(size: int) -> str:
    """``"(N bytes)"``, the size suffix of every action line."""
    return f"({size} bytes)"
