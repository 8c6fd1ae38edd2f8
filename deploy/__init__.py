"""Production deployment, one command per side (run from the repo, in its venv):

- ``python -m deploy.databricks``: build the Spark jobs' wheel and upload it to the Unity Catalog
  volume path the DAG's ``libraries: [{"whl": wheel_uri}]`` names;
- ``python -m deploy.composer``: copy ``dags/`` and ``plugins/order_tracking/`` into the Composer
  environment's bucket (and delete plugin modules the repo no longer has).

Both take ``--dry-run``: each action is printed as one line (``upload SRC -> DEST (N bytes)``,
``delete DEST (N bytes)``, ...) and nothing is changed. Production tooling: it never imports
``local_stack`` or ``bench``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from order_tracking.config import PipelineConfig

REPO = Path(__file__).resolve().parent.parent
PLUGINS = REPO / "plugins"


class DeployError(Exception):
    """A deployment that cannot (or must not) go ahead; its message says why and what to do."""


ENV_PREFIX = "ORDER_TRACKING_"


def pipeline_config() -> PipelineConfig:
    """The DAG's configuration as the environment sets it (``ORDER_TRACKING_*``, else the defaults).

    ``plugins/`` is put on ``sys.path`` first, as Airflow does for the plugins folder. Raises
    :class:`DeployError` naming the ``ORDER_TRACKING_*`` variable whose value does not parse (the
    DAG file would not parse with it either).
    """
    if str(PLUGINS) not in sys.path:
        sys.path.insert(0, str(PLUGINS))
    from order_tracking.config import PipelineConfig

    try:
        return PipelineConfig.from_env()
    except (ValueError, TypeError) as error:  # json.JSONDecodeError is a ValueError
        for name, value in sorted(os.environ.items()):
            if not name.startswith(ENV_PREFIX):
                continue
            try:
                PipelineConfig.from_env({name: value})
            except (ValueError, TypeError) as alone:
                raise DeployError(
                    f"the environment variable {name}={value!r} is not valid: {alone} "
                    "(the DAG reads it too: fix or unset it)"
                ) from error
        raise DeployError(f"the ORDER_TRACKING_* environment variables are not valid: {error}") from error


def size_text(size: int) -> str:
    """``"(N bytes)"``, the size suffix of every action line."""
    return f"({size} bytes)"
