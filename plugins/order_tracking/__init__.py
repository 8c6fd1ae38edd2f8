"""Airflow-side package of the order-tracking incremental load.

It builds the DAG's pieces (configuration, batch manifest, Databricks task specs, archive moves).
It never imports PySpark: everything heavy runs on Databricks (or the local runner).
"""
