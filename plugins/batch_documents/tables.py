"""The Delta tables of the pipeline: their default names, and how the jobs receive them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

PARAMETER_SUFFIX = "_table"  # the jobs' named parameter of the stage table is ``stage_table``


@dataclass(frozen=True)
class TableNames:
    """One name per table: a catalog name on Databricks, a folder under ``tables_root`` locally."""

    stage: str = "stage_zn_new"
    target: str = "target_zn_new"
    rejects: str = "rejects_zn_new"
    ledger: str = "ledger_zn_new"
    audit: str = "audit_zn_new"

    @classmethod
    def kinds(cls) -> tuple[str, ...]:
        """``("stage", "target", "rejects", "ledger", "audit")``."""
        return tuple(f.name for f in fields(cls))

    def as_parameters(self) -> dict[str, str]:
        """The jobs' named parameters: ``{"stage_table": "stage_zn_new", ...}``."""
        return {kind + PARAMETER_SUFFIX: name for kind, name in asdict(self).items()}

    @classmethod
    def from_parameters(cls, parameters: Mapping[str, str]) -> TableNames:
        """The names in ``parameters`` (keys as :meth:`as_parameters` writes them); defaults for the rest."""
        given = {kind: parameters.get(kind + PARAMETER_SUFFIX) for kind in cls.kinds()}
        return cls(**{kind: name for kind, name in given.items() if name is not None})
