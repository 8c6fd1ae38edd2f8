"""Claims against the emulator: exactly the listed generation is copied, and only it is released."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from order_tracking.batch import StagedObject, snapshot_name
from order_tracking.claims import ClaimError, claim_objects, release_originals, same_bytes


def _staged(bucket: Any, name: str, data: bytes) -> StagedObject:
    """Upload ``name`` and describe it as the cut's listing does."""
    blob = bucket.blob(name)
    blob.upload_from_string(data)
    return StagedObject(name, str(blob.generation), blob.size, blob.md5_hash, blob.crc32c, blob.time_created)


def _bytes(bucket: Any, name: str) -> bytes | None:
    blob = bucket.get_blob(name)
    return None if blob is None else bytes(blob.download_as_bytes())


def test_the_listed_generation_is_copied_under_a_safe_name(bucket: Any) -> None:
    listed = _staged(bucket, "staging_zn/orders[1] (copy)?.csv", b"first\n")

    (claimed,) = claim_objects(bucket, "_batches/", "b1", [listed])

    assert claimed.snapshot == snapshot_name("_batches/", "b1", listed.name, str(listed.generation))
    assert claimed == StagedObject(**{**listed.__dict__, "snapshot": claimed.snapshot})
    assert _bytes(bucket, claimed.snapshot) == b"first\n"
    assert _bytes(bucket, listed.name) == b"first\n"  # the original stays until it is released


def test_an_object_overwritten_since_it_was_listed_is_left_out_by_name_and_generation(
    bucket: Any, caplog: pytest.LogCaptureFixture
) -> None:
    listed = _staged(bucket, "staging_zn/a.csv", b"old\n")
    kept = _staged(bucket, "staging_zn/b.csv", b"b\n")
    _staged(bucket, "staging_zn/a.csv", b"new\n")  # overwritten between the listing and the copy

    with caplog.at_level(logging.WARNING, logger="order_tracking.claims"):
        claimed = claim_objects(bucket, "_batches/", "b1", [listed, kept])

    assert [obj.name for obj in claimed] == ["staging_zn/b.csv"]
    assert "'staging_zn/a.csv'" in caplog.text
    assert f"generation {listed.generation}" in caplog.text
    assert bucket.get_blob(snapshot_name("_batches/", "b1", listed.name, str(listed.generation))) is None


def test_a_deleted_object_is_left_out(bucket: Any) -> None:
    listed = _staged(bucket, "staging_zn/a.csv", b"a\n")
    bucket.blob(listed.name).delete()
    assert claim_objects(bucket, "_batches/", "b1", [listed]) == []


def test_a_retry_keeps_the_copies_of_an_earlier_attempt(bucket: Any) -> None:
    objects = [_staged(bucket, f"staging_zn/{i}.csv", f"{i}\n".encode()) for i in range(12)]
    first = claim_objects(bucket, "_batches/", "b1", objects)
    copies = {
        blob.name: blob.generation for blob in bucket.client.list_blobs(bucket.name, prefix="_batches/")
    }

    assert claim_objects(bucket, "_batches/", "b1", objects) == first

    again = {blob.name: blob.generation for blob in bucket.client.list_blobs(bucket.name, prefix="_batches/")}
    assert again == copies  # nothing copied twice


def test_a_copy_with_other_bytes_is_an_error(bucket: Any) -> None:
    listed = _staged(bucket, "staging_zn/a.csv", b"a\n")
    snapshot = snapshot_name("_batches/", "b1", listed.name, str(listed.generation))
    bucket.blob(snapshot).upload_from_string(b"tampered\n")
    with pytest.raises(ClaimError, match="does not hold"):
        claim_objects(bucket, "_batches/", "b1", [listed])


def test_release_deletes_only_the_claimed_generation(bucket: Any) -> None:
    listed = [_staged(bucket, f"staging_zn/{name}", b"claimed\n") for name in ("a.csv", "b.csv", "c.csv")]
    claimed = claim_objects(bucket, "_batches/", "b1", listed)
    _staged(bucket, "staging_zn/b.csv", b"newer\n")  # arrived after the cut under the same name
    bucket.blob("staging_zn/c.csv").delete()  # gone already
    assert release_originals(bucket, claimed) == 1
    assert release_originals(bucket, claimed) == 0  # idempotent

    assert [b.name for b in bucket.client.list_blobs(bucket.name, prefix="staging_zn/")] == [
        "staging_zn/b.csv"
    ]
    assert _bytes(bucket, "staging_zn/b.csv") == b"newer\n"
    assert all(_bytes(bucket, o.snapshot) == b"claimed\n" for o in claimed if o.snapshot)


def test_an_entry_without_a_batch_copy_is_never_released(bucket: Any) -> None:
    listed = _staged(bucket, "staging_zn/a.csv", b"a\n")
    assert listed.snapshot is None
    assert release_originals(bucket, [listed]) == 0
    assert _bytes(bucket, listed.name) == b"a\n"


def test_same_bytes_uses_md5_or_crc32c_and_size() -> None:
    assert same_bytes({"md5_hash": "m", "crc32c": "x"}, {"md5_hash": "m", "crc32c": "y"})
    assert not same_bytes({"md5_hash": "m"}, {"md5_hash": "n"})
    composite = {"md5_hash": None, "crc32c": "c", "size": 3}
    assert same_bytes(composite, {"md5_hash": None, "crc32c": "c", "size": "3"})
    assert not same_bytes(composite, {"md5_hash": None, "crc32c": "c", "size": 4})
    assert not same_bytes({"md5_hash": None, "crc32c": None}, {"md5_hash": None, "crc32c": None})
