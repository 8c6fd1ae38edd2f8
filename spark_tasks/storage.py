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


def read_text(spark: SparkSession, uri: str, limit: int = 16 * 1024 * 1024) -> str:
    """Read a whole small UTF-8 text document (at most ``limit`` bytes, 16 MiB by default).

    One read through the file system, not a Spark job: a job's planning and file listing cost
    seconds for a document of a few kilobytes. Raises ``FileNotFoundError`` when ``uri`` does not
    exist and ``ValueError`` when it is larger than ``limit``.
    """
    path, fs = _path_and_fs(spark, uri)
    if not fs.exists(path):
        raise FileNotFoundError(uri)
    data, whole = read_prefix(spark, uri, limit)
    if not whole:
        raise ValueError(f"{uri} is larger than {limit} bytes: not a batch document")
    return data.decode("utf-8")


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
