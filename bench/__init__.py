"""Benchmark harness of the order-tracking pipeline (``make bench``); a dev tool, never imported by jobs.

Each section (stage ingest, merge, DAG parse, ...) measures our code path side by side with its
baseline in the same run, so that the page reports ratios that do not depend on the machine's mood.
"""
