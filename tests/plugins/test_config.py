"""Configuration defaults and environment overrides."""

from __future__ import annotations

from order_tracking.config import PipelineConfig


def test_defaults_match_the_product() -> None:
    config = PipelineConfig.from_env({})
    assert (config.bucket, config.staging_prefix, config.archive_prefix) == (
        "tracking_orders",
        "staging_zn/",
        "archive/",
    )
    assert (config.stage_table, config.target_table) == ("stage_zn_new", "target_zn_new")
    assert config.cluster_spec["spark_version"].startswith("17.3.x")


def test_environment_overrides_typed_fields() -> None:
    config = PipelineConfig.from_env(
        {
            "ORDER_TRACKING_BUCKET": "other",
            "ORDER_TRACKING_MAX_OBJECTS_PER_RUN": "7",
            "ORDER_TRACKING_CLUSTER_SPEC": '{"spark_version": "x", "num_workers": 1}',
            "ORDER_TRACKING_SCHEDULE": "none",
        }
    )
    assert config.bucket == "other"
    assert config.max_objects_per_run == 7
    assert config.cluster_spec == {"spark_version": "x", "num_workers": 1}
    assert config.schedule_or_none is None
