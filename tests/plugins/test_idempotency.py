"""Idempotency tokens are deterministic, distinct per step and attempt, and within Databricks' limit."""

from __future__ import annotations

from order_tracking.idempotency import step_token


def test_tokens_are_stable_short_and_distinct() -> None:
    token = step_token("dag", "scheduled__2026-11-26T10:00:00+00:00", "merge")
    assert token == step_token("dag", "scheduled__2026-11-26T10:00:00+00:00", "merge")
    assert len(token) <= 64
    others = {
        step_token("dag", "scheduled__2026-11-26T10:00:00+00:00", "stage_load"),
        step_token("dag", "scheduled__2026-11-26T11:00:00+00:00", "merge"),
        step_token("dag", "scheduled__2026-11-26T10:00:00+00:00", "merge", attempt=1),
        step_token("other", "scheduled__2026-11-26T10:00:00+00:00", "merge"),
    }
    assert token not in others
    assert len(others) == 4
