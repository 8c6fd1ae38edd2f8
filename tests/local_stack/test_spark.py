"""The local SparkSession: shaped like a Databricks cluster, and quiet where Spark's logs say nothing new."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.spark


def test_the_csv_header_check_warning_is_silenced_and_other_warnings_are_not(spark: Any) -> None:
    log_manager = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager
    checker = log_manager.getLogger("org.apache.spark.sql.catalyst.csv.CSVHeaderChecker")
    assert checker.getLevel().toString() == "ERROR"
    assert not checker.isWarnEnabled()
    assert log_manager.getLogger("org.apache.spark.sql.execution.datasources.csv").isWarnEnabled()
