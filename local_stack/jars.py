"""Fetch and cache the JVM jars local Spark needs: Delta Lake and the Hadoop GCS connector.

They come from Maven Central once, are checked against pinned SHA-256 digests, and are kept in
``.cache/jars`` so that later runs need no network.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MAVEN_REPO = os.environ.get("MAVEN_REPO_URL", "https://repo1.maven.org/maven2")
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "jars"


@dataclass(frozen=True)
class Jar:
    group: str
    artifact: str
    version: str
    sha256: str
    classifier: str = ""

    @property
    def file_name(self) -> str:
        suffix = f"-{self.classifier}" if self.classifier else ""
        return f"{self.artifact}-{self.version}{suffix}.jar"

    @property
    def url(self) -> str:
        return f"{MAVEN_REPO}/{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.file_name}"


# Delta 4.0.x pairs with Spark 4.0.x (Databricks Runtime 17.3 LTS); connector 3.1 is for Hadoop 3.4.
JARS: tuple[Jar, ...] = (
    Jar(
        "io.delta",
        "delta-spark_2.13",
        "4.0.1",
        "a1e76860b19fe1e6b205a4ea7a9099a2f9575d39bb71d49b3e679b299d0efb91",
    ),
    Jar(
        "io.delta",
        "delta-storage",
        "4.0.1",
        "ecc42c5aaa51c423312d9e4e48aa4a12b34740bf2c37de0e8f279277ec3d12e4",
    ),
    Jar(
        "com.google.cloud.bigdataoss",
        "gcs-connector",
        "3.1.9",
        "c5fcafb3b1671801c9fe61dff16d946729314d495c4e03590b79e52d01d081bb",
        classifier="shaded",
    ),
)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_jars(cache_dir: Path = DEFAULT_CACHE) -> list[Path]:
    """Return the local paths of all jars, downloading and verifying any that are missing."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for jar in JARS:
        path = cache_dir / jar.file_name
        if not path.exists():
            partial = path.with_suffix(".part")
            print(f"fetching {jar.url}", flush=True)
            urllib.request.urlretrieve(jar.url, partial)
            actual = _sha256(partial)
            if actual != jar.sha256:
                partial.unlink()
                raise RuntimeError(
                    f"{jar.file_name}: SHA-256 {actual} does not match the pinned {jar.sha256}"
                )
            partial.rename(path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for jar_path in ensure_jars():
        print(jar_path)
