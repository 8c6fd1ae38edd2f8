"""Hypothesis strategies for every batch document, as the writers build them."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from hypothesis import strategies as st

from batch_documents import (
    Destination,
    Manifest,
    ManifestObject,
    MergeResult,
    ObjectOutcome,
    Outcome,
    RunMode,
    SchemaPolicy,
    StageResult,
)

texts = st.text(max_size=40)  # any Unicode: names, details, reasons
maybe_texts = st.none() | texts
counts = st.integers(min_value=0, max_value=2**53)  # what JSON numbers hold exactly
maybe_counts = st.none() | counts
zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
instants = st.datetimes(timezones=zones)
BUCKET = st.from_regex(r"[a-z0-9][a-z0-9_.-]{2,20}", fullmatch=True)


@st.composite
def manifest_objects(draw: st.DrawFn, bucket: str, seq: int, claimed: bool = True) -> ManifestObject:
    return ManifestObject.in_bucket(
        bucket,
        seq,
        draw(texts.filter(bool)),
        generation=draw(st.none() | st.integers(min_value=1).map(str)),
        size=draw(maybe_counts),
        md5_hash=draw(maybe_texts),
        crc32c=draw(maybe_texts),
        created=draw(st.none() | instants.map(lambda t: t.isoformat())),
        snapshot=draw(texts.filter(bool)) if claimed else None,
    )


@st.composite
def manifests(draw: st.DrawFn) -> Manifest:
    """A manifest as ``build_manifest`` writes it (version 2): objects numbered from 1 in each list."""
    bucket = draw(BUCKET)
    sizes = draw(st.tuples(st.integers(0, 4), st.integers(0, 3)))
    return Manifest(
        batch_id=draw(texts.filter(bool)),
        bucket=bucket,
        created_at=draw(instants),
        objects=tuple(draw(manifest_objects(bucket, seq)) for seq in range(1, sizes[0] + 1)),
        stage_result_uri=draw(texts),
        merge_result_uri=draw(texts),
        mode=draw(st.sampled_from(RunMode)),
        dry_run=draw(st.booleans()),
        not_csv=tuple(draw(manifest_objects(bucket, seq)) for seq in range(1, sizes[1] + 1)),
    )


object_outcomes = st.builds(
    ObjectOutcome,
    name=texts,
    outcome=st.sampled_from(Outcome),
    destination=st.sampled_from([Destination.ARCHIVE, Destination.QUARANTINE]),
    records_read=counts,
    rows_loaded=counts,
    rows_rejected=counts,
    reason=maybe_texts,
    detail=maybe_texts,
    duplicate_of=maybe_texts,
)
stage_results = st.builds(
    StageResult,
    batch_id=texts,
    schema_policy=st.sampled_from(SchemaPolicy),
    objects=st.lists(object_outcomes, max_size=4).map(tuple),
    dry_run=st.booleans(),
    reject_reasons=st.dictionaries(texts, counts, max_size=4),
)
merge_results = st.builds(
    MergeResult,
    batch_id=texts,
    rows_loaded=counts,
    keys_in_batch=counts,
    superseded_in_batch=counts,
    inserted=counts,
    updated=counts,
    stale_skipped=counts,
    target_rows=counts,
    target_version=counts,
)
