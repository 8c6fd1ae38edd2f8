"""Where the Delta tables live (catalog names on Databricks, a folder of path tables locally) and
how they get and keep their schema."""

from __future__ import annotations

from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql.types import StructField, StructType


class TableSchemaError(ValueError):
    """An existing table has a column of the schema's name with another type: no automatic migration."""


def columns_to_add(existing: StructType, wanted: StructType) -> list[StructField]:
    """The fields of ``wanted`` that ``existing`` lacks, in ``wanted``'s order.

    Names compare case-insensitively, as Spark resolves them (``spark.sql.caseSensitive`` is off on
    Databricks and here). Columns only ``existing`` has (a producer's extra columns kept under the
    ``add`` schema policy) stay. Raises :class:`TableSchemaError` naming every column whose type
    differs, since changing a type is a rewrite a person must decide on.
    """
    have = {field.name.lower(): field for field in existing.fields}
    clashes = [
        f"{field.name} is {have[field.name.lower()].dataType.simpleString()}, "
        f"the schema says {field.dataType.simpleString()}"
        for field in wanted.fields
        if field.name.lower() in have and have[field.name.lower()].dataType != field.dataType
    ]
    if clashes:
        raise TableSchemaError("; ".join(clashes))
    return [field for field in wanted.fields if field.name.lower() not in have]


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

    def ensure(
        self, spark: SparkSession, schema: StructType, properties: dict[str, str] | None = None
    ) -> list[str]:
        """Create the table with ``schema`` and ``properties`` if it is missing, else migrate it.

        Creation is Delta's ``DeltaTable.createIfNotExists`` builder; migration adds the columns of
        ``schema`` the table lacks with ``ALTER TABLE ... ADD COLUMNS`` (nullable: existing rows read
        them as null; properties of an existing table are left alone). Returns the names of the
        columns added, empty when the table was created or already up to date. Raises
        :class:`TableSchemaError` when an existing column's type differs from ``schema``'s.
        """
        builder = DeltaTable.createIfNotExists(spark).addColumns(schema)
        builder = builder.location(self.path) if self.path else builder.tableName(self.name)
        for key, value in (properties or {}).items():
            builder = builder.property(key, value)
        existing = builder.execute().toDF().schema
        try:
            missing = columns_to_add(existing, schema)
        except TableSchemaError as error:
            raise TableSchemaError(f"table {self.sql_name}: {error}") from None
        if missing:
            columns = ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in missing)
            spark.sql(f"ALTER TABLE {self.sql_name} ADD COLUMNS ({columns})")
        return [field.name for field in missing]
