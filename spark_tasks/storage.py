"""Small-document I/O (manifests, results) through the cluster's Hadoop file systems.

Going through Hadoop means the same code reads ``gs://`` on Databricks and against the local GCS
emulator, and ``file://`` in tests. It needs a JVM-backed session (Databricks dedicated access mode).
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession


def _path_and_fs(spark: SparkSession, uri: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    assert jvm is not None, "a JVM-backed SparkSession is required"
    path = jvm.org.apache.hadoop.fs.Path(uri)
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def read_text(spark: SparkSession, uri: str) -> str:
    """Read a whole small text document."""
    rows = spark.read.text(uri, wholetext=True).collect()
    if not rows:
        raise FileNotFoundError(uri)
    return str(rows[0][0])


def write_text(spark: SparkSession, uri: str, text: str) -> None:
    """Write (or overwrite) a small UTF-8 text document in one piece."""
    path, fs = _path_and_fs(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_prefix(spark: SparkSession, uri: str, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of an object, and whether that is the whole object."""
    path, fs = _path_and_fs(spark, uri)
    stream = fs.open(path)
    try:
        data = bytes(stream.readNBytes(limit + 1))  # Java 11+; py4j returns byte[] by value
    finally:
        stream.close()
    return data[:limit], len(data) <= limit
