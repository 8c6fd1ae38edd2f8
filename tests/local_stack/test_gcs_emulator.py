"""The patched emulator refuses what Cloud Storage refuses and keeps any object name intact.

Every check goes through the official ``google-cloud-storage`` client, so what is tested is the
wire behaviour our code and the Hadoop connector see: 404 for a generation that is not the live one,
412 for a failed ``if*GenerationMatch``, 304 for a failed ``if*GenerationNotMatch``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.api_core.exceptions import NotFound, NotModified, PreconditionFailed

from tests.object_names import SLASHED_NAMES, awkward_leaves

RESUMABLE_CHUNK = 256 * 1024  # the client's smallest chunk: larger data goes up resumably


def _put(bucket: Any, name: str, data: bytes, **preconditions: Any) -> Any:
    blob = bucket.blob(name)
    blob.upload_from_string(data, **preconditions)
    return blob


def _bytes(bucket: Any, name: str) -> bytes | None:
    blob = bucket.get_blob(name)
    return None if blob is None else bytes(blob.download_as_bytes())


def _refused(error: type[Exception], call: Callable[[], Any]) -> None:
    with pytest.raises(error):
        call()


# --- names --------------------------------------------------------------------------------------


def test_every_awkward_name_round_trips_through_upload_list_get_copy_rewrite_and_delete(bucket: Any) -> None:
    names = [f"n/{leaf}" for leaf in awkward_leaves()] + list(SLASHED_NAMES)
    for name in names:
        _put(bucket, name, name.encode())

    listed = [blob.name for blob in bucket.client.list_blobs(bucket.name, prefix="n/")]
    assert sorted(listed) == sorted(n for n in names if n.startswith("n/"))
    for name in names:
        assert [b.name for b in bucket.client.list_blobs(bucket.name, prefix=name)][:1] == [name]
        blob = bucket.get_blob(name)
        assert blob is not None
        assert blob.name == name
        assert blob.download_as_bytes() == name.encode()  # follows the mediaLink it was given
        assert bucket.blob(name).download_as_bytes() == name.encode()  # builds its own URL
        bucket.copy_blob(blob, bucket, f"copy/{name}", source_generation=blob.generation)
        bucket.blob(f"rewrite/{name}").rewrite(bucket.blob(name, generation=blob.generation))
        assert _bytes(bucket, f"copy/{name}") == _bytes(bucket, f"rewrite/{name}") == name.encode()

    for name in names:
        for prefix in ("", "copy/", "rewrite/"):
            bucket.blob(prefix + name).delete()
    assert list(bucket.client.list_blobs(bucket.name)) == []


def test_a_backslash_and_a_slash_are_different_names(bucket: Any) -> None:
    _put(bucket, "d/a\\1.csv", b"backslash")
    _put(bucket, "d/a/1.csv", b"slash")
    assert (_bytes(bucket, "d/a\\1.csv"), _bytes(bucket, "d/a/1.csv")) == (b"backslash", b"slash")


def test_a_resumable_upload_keeps_an_awkward_name(bucket: Any) -> None:
    data = b"x" * (RESUMABLE_CHUNK + 10)
    blob = bucket.blob("r/x+y %20 [1] ü?.csv", chunk_size=RESUMABLE_CHUNK)
    blob.upload_from_string(data)
    assert _bytes(bucket, "r/x+y %20 [1] ü?.csv") == data


def test_match_glob_lists_only_objects_directly_under_a_prefix(bucket: Any) -> None:
    leaves = awkward_leaves()
    for name in ["s/", "s/sub/x.csv", "s/sub/", "other/a.csv", *(f"s/{leaf}" for leaf in leaves)]:
        _put(bucket, name, b"x")
    listed = sorted(b.name for b in bucket.client.list_blobs(bucket.name, match_glob="s/?*"))
    assert listed == sorted(f"s/{leaf}" for leaf in leaves)


# --- generations and preconditions ----------------------------------------------------------------


def test_upload_if_generation_match(bucket: Any) -> None:
    first = _put(bucket, "u/a.csv", b"one", if_generation_match=0)  # passes: no live object
    _refused(PreconditionFailed, lambda: _put(bucket, "u/a.csv", b"two", if_generation_match=0))
    later = first.generation + 1
    _refused(PreconditionFailed, lambda: _put(bucket, "u/a.csv", b"two", if_generation_match=later))
    _refused(PreconditionFailed, lambda: _put(bucket, "u/new.csv", b"two", if_generation_match=123))
    assert _bytes(bucket, "u/a.csv") == b"one"
    assert bucket.get_blob("u/new.csv") is None
    _put(bucket, "u/a.csv", b"two", if_generation_match=first.generation)  # passes: it is live
    assert _bytes(bucket, "u/a.csv") == b"two"


def test_upload_if_generation_not_match(bucket: Any) -> None:
    first = _put(bucket, "u/a.csv", b"one")
    _refused(NotModified, lambda: _put(bucket, "u/a.csv", b"two", if_generation_not_match=first.generation))
    _refused(NotModified, lambda: _put(bucket, "u/none.csv", b"two", if_generation_not_match=1))
    assert _bytes(bucket, "u/a.csv") == b"one"
    _put(bucket, "u/a.csv", b"two", if_generation_not_match=first.generation + 1)
    assert _bytes(bucket, "u/a.csv") == b"two"


def test_resumable_upload_if_generation_match(bucket: Any) -> None:
    data = b"y" * (RESUMABLE_CHUNK * 2 + 1)
    bucket.blob("u/big.csv", chunk_size=RESUMABLE_CHUNK).upload_from_string(data, if_generation_match=0)
    again = bucket.blob("u/big.csv", chunk_size=RESUMABLE_CHUNK)
    _refused(PreconditionFailed, lambda: again.upload_from_string(b"z" * len(data), if_generation_match=0))
    assert _bytes(bucket, "u/big.csv") == data


def test_get_metadata_by_generation_and_preconditions(bucket: Any) -> None:
    old = _put(bucket, "g/a.csv", b"one")
    new = _put(bucket, "g/a.csv", b"two")
    assert bucket.get_blob("g/a.csv", generation=new.generation).generation == new.generation
    assert bucket.get_blob("g/a.csv", generation=old.generation) is None  # 404: not the live one
    assert bucket.get_blob("g/a.csv", if_generation_match=new.generation) is not None
    _refused(PreconditionFailed, lambda: bucket.get_blob("g/a.csv", if_generation_match=old.generation))
    _refused(PreconditionFailed, lambda: bucket.get_blob("g/a.csv", if_generation_match=0))
    assert bucket.get_blob("g/a.csv", if_generation_not_match=old.generation) is not None
    _refused(NotModified, lambda: bucket.get_blob("g/a.csv", if_generation_not_match=new.generation))


def test_get_media_by_generation_and_preconditions(bucket: Any) -> None:
    old = _put(bucket, "m/a.csv", b"one")
    new = _put(bucket, "m/a.csv", b"two")
    assert bucket.blob("m/a.csv", generation=new.generation).download_as_bytes() == b"two"
    _refused(NotFound, lambda: bucket.blob("m/a.csv", generation=old.generation).download_as_bytes())
    blob = bucket.blob("m/a.csv")
    assert blob.download_as_bytes(if_generation_match=new.generation) == b"two"
    _refused(PreconditionFailed, lambda: blob.download_as_bytes(if_generation_match=old.generation))
    assert blob.download_as_bytes(if_generation_not_match=old.generation) == b"two"
    _refused(NotModified, lambda: blob.download_as_bytes(if_generation_not_match=new.generation))
    _refused(NotFound, old.download_as_bytes)  # its mediaLink names its generation


def test_delete_by_generation_and_preconditions(bucket: Any) -> None:
    old = _put(bucket, "x/a.csv", b"one")
    new = _put(bucket, "x/a.csv", b"two")
    _refused(NotFound, lambda: bucket.blob("x/a.csv", generation=old.generation).delete())
    _refused(PreconditionFailed, lambda: bucket.blob("x/a.csv").delete(if_generation_match=old.generation))
    _refused(NotModified, lambda: bucket.blob("x/a.csv").delete(if_generation_not_match=new.generation))
    assert _bytes(bucket, "x/a.csv") == b"two"  # every refused delete left it alone
    bucket.blob("x/a.csv").delete(if_generation_match=new.generation)
    assert bucket.get_blob("x/a.csv") is None
    _refused(NotFound, lambda: bucket.blob("x/a.csv").delete(if_generation_match=new.generation))
    _put(bucket, "x/b.csv", b"three")
    other = _put(bucket, "x/b.csv", b"four")
    bucket.blob("x/b.csv", generation=other.generation).delete()  # the live generation: deleted
    assert bucket.get_blob("x/b.csv") is None


def test_copy_by_source_generation_and_preconditions(bucket: Any) -> None:
    old = _put(bucket, "c/src.csv", b"one")
    new = _put(bucket, "c/src.csv", b"two")
    src = bucket.blob("c/src.csv")
    _refused(NotFound, lambda: bucket.copy_blob(src, bucket, "c/d1.csv", source_generation=old.generation))
    _refused(
        PreconditionFailed,
        lambda: bucket.copy_blob(src, bucket, "c/d1.csv", if_source_generation_match=old.generation),
    )
    _refused(
        NotModified,
        lambda: bucket.copy_blob(src, bucket, "c/d1.csv", if_source_generation_not_match=new.generation),
    )
    assert bucket.get_blob("c/d1.csv") is None
    bucket.copy_blob(
        src,
        bucket,
        "c/d1.csv",
        source_generation=new.generation,
        if_source_generation_match=new.generation,
        if_source_generation_not_match=old.generation,
        if_generation_match=0,
    )
    assert _bytes(bucket, "c/d1.csv") == b"two"
    _put(bucket, "c/src.csv", b"three")
    _refused(PreconditionFailed, lambda: bucket.copy_blob(src, bucket, "c/d1.csv", if_generation_match=0))
    assert _bytes(bucket, "c/d1.csv") == b"two"
    dest = bucket.get_blob("c/d1.csv")
    _refused(
        NotModified,
        lambda: bucket.copy_blob(src, bucket, "c/d1.csv", if_generation_not_match=dest.generation),
    )
    bucket.copy_blob(src, bucket, "c/d1.csv", if_generation_match=dest.generation)
    assert _bytes(bucket, "c/d1.csv") == b"three"


def test_rewrite_by_source_generation_and_preconditions(bucket: Any) -> None:
    old = _put(bucket, "w/src.csv", b"one")
    new = _put(bucket, "w/src.csv", b"two")
    dest = bucket.blob("w/dest.csv")
    _refused(NotFound, lambda: dest.rewrite(bucket.blob("w/src.csv", generation=old.generation)))
    src = bucket.blob("w/src.csv")
    _refused(PreconditionFailed, lambda: dest.rewrite(src, if_source_generation_match=old.generation))
    _refused(NotModified, lambda: dest.rewrite(src, if_source_generation_not_match=new.generation))
    assert bucket.get_blob("w/dest.csv") is None
    token, _, _ = dest.rewrite(
        bucket.blob("w/src.csv", generation=new.generation),
        if_generation_match=0,
        if_source_generation_match=new.generation,
    )
    assert token is None
    assert _bytes(bucket, "w/dest.csv") == b"two"
    _refused(PreconditionFailed, lambda: bucket.blob("w/dest.csv").rewrite(src, if_generation_match=0))
    _refused(
        NotModified,
        lambda: bucket.blob("w/dest.csv").rewrite(src, if_generation_not_match=dest.generation),
    )
    assert _bytes(bucket, "w/dest.csv") == b"two"


def test_a_refusal_is_a_json_error_the_connector_understands(bucket: Any) -> None:
    _put(bucket, "e/a.csv", b"one")
    with pytest.raises(PreconditionFailed) as refused:
        bucket.blob("e/a.csv").reload(if_generation_match=0)
    assert refused.value.errors[0]["reason"] == "conditionNotMet"
    with pytest.raises(NotFound) as missing:
        bucket.blob("e/none.csv").reload()
    assert missing.value.errors[0]["reason"] == "notFound"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the bind error
def test_a_taken_port_is_a_clear_error_not_a_hang() -> None:
    import socket

    from local_stack.gcs_emulator import GcsEmulator, emulator_client

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"could not listen on http://127.0.0.1:{port}.*port taken"):
            GcsEmulator(port, "b").start()
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with GcsEmulator(port, "b") as emulator:  # a free port still starts, and serves
        assert [b.name for b in emulator_client(emulator.url).list_buckets()] == ["b"]
