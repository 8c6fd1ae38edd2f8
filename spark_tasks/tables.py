"""Where the Delta tables live: catalog names on Databricks, a folder of path tables locally."""

from __future__ import annotations

from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession


@dataclass(frozen=True)
class TableRef:
    """A Delta table named in the catalog (``root`` empty) or stored at ``root/name``."""

    name: str
    root: str = ""

    @property
    def path(self) -> str | None:
        return f"{self.root.rstrip('/')}/{self.name}" if self.root else None

    @property
    def sql_name(self) -> str:
        """The identifier to use in SQL text."""
        return f"delta.`{self.path}`" if self.path else self.name

    def exists(self, spark: SparkSession) -> bool:
        if self.path:
            return DeltaTable.isDeltaTable(spark, self.path)
        return spark.catalog.tableExists(self.name)

    def read(self, spark: SparkSession, version: int | None = None) -> DataFrame:
        """The table, or its snapshot at ``version`` (Delta time travel)."""
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(self.path) if self.path else reader.table(self.name)

    def delta_table(self, spark: SparkSession) -> DeltaTable:
        return DeltaTable.forPath(spark, self.path) if self.path else DeltaTable.forName(spark, self.name)

    def save(self, writer: DataFrameWriter) -> None:
        if self.path:
            writer.save(self.path)
        else:
            writer.saveAsTable(self.name)

    def create_if_missing(self, spark: SparkSession, schema_ddl: str, properties: dict[str, str]) -> None:
        """Create the table with an explicit schema and properties, once."""
        props = ", ".join(f"'{key}' = '{value}'" for key, value in properties.items())
        spark.sql(
            f"CREATE TABLE IF NOT EXISTS {self.sql_name} ({schema_ddl}) USING DELTA"
            + (f" TBLPROPERTIES ({props})" if props else "")
        )
