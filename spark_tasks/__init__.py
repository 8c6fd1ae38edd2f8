"""PySpark + Delta Lake jobs of the order-tracking incremental load.

Each job is an entry point of this package's wheel (see ``pyproject.toml``): Databricks runs it as a
``python_wheel_task`` and the local runner runs the very same entry point. Nothing here imports
Airflow or the local stack; the SparkSession is whatever the cluster (or the local runner) provides.
"""
