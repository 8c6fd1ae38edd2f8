"""The local stack: a dev and test tool that production code never imports.

It runs the real DAG on one machine: a GCS emulator, a Databricks-compatible runner that executes
the submitted Spark tasks with local Spark and real Delta Lake, and a local Airflow, all started
and stopped together by :class:`local_stack.local_stack.LocalStack`.
"""
