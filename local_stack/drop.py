"""``make drop FILES="a.csv b.csv"``: upload files to the staging prefix of the running local stack."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

from local_stack.gcs_emulator import emulator_client
from local_stack.input_files import InputFilesError, split_file_list, staging_names
from local_stack.settings import BUCKET, GCS_PORT, STAGING_PREFIX


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", type=Path, nargs="*")
    parser.add_argument(
        "--file-list",
        type=split_file_list,
        default=[],
        help="more files as one shell-quoted string (make's FILES: no shell ever runs it)",
    )
    parser.add_argument("--prefix", default=STAGING_PREFIX)
    args = parser.parse_args()
    args.files += [Path(name) for name in args.file_list]
    if not args.files:
        parser.error("no file to drop: make drop FILES=\"a.csv 'my file (2).csv'\"")
    try:
        objects = staging_names(args.files, args.prefix, variable="FILES")
    except InputFilesError as error:
        parser.error(str(error))
    try:
        socket.create_connection(("127.0.0.1", GCS_PORT), timeout=2).close()
    except OSError:
        sys.exit(
            f"no local stack on 127.0.0.1:{GCS_PORT}: start it with `make up` (in another terminal) first"
        )
    bucket = emulator_client(f"http://127.0.0.1:{GCS_PORT}").bucket(BUCKET)
    for name, path in objects.items():
        bucket.blob(name).upload_from_string(path.read_bytes(), content_type="text/csv")
        print(f"gs://{BUCKET}/{name}")


if __name__ == "__main__":
    main()
