"""S3Download and S3Upload under the real `kiln toe run`, against Kiln's object store (the data
directory's local buckets, as `kiln serve` resolves s3:// locations by default)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from kiln.objectstore import LocalDirectoryStore

KILN = [sys.executable, "-c", "from kiln.cli.main import main; main()"]
DOCUMENT = """schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Fetch
        action: S3Download
        inputs:
          - source: s3://artifacts/tools/hello.txt
            destination: {work}/hello.txt
      - name: Change
        action: ExecuteBash
        inputs:
          commands: ["tr a-z A-Z < {work}/hello.txt > {work}/shout.txt"]
      - name: Store
        action: S3Upload
        inputs:
          - source: {work}/shout.txt
            destination: s3://artifacts/results/shout.txt
"""


def test_download_and_upload_go_through_the_object_store(tmp_path):
    data = tmp_path / "data"
    objects = LocalDirectoryStore(data / "objects")
    objects.create_bucket("artifacts")
    objects.put_object("artifacts", "tools/hello.txt", io.BytesIO(b"hello kiln\n"))
    work = tmp_path / "work"
    work.mkdir()
    document = tmp_path / "s3.yaml"
    document.write_text(DOCUMENT.format(work=work))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_S3")}
    env["KILN_DATA_DIR"] = str(data)
    done = subprocess.run(
        [*KILN, "toe", "run", "--documents", str(document), "--log-directory",
         str(tmp_path / "logs")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (work / "hello.txt").read_text() == "hello kiln\n"
    with objects.get_object("artifacts", "results/shout.txt") as stored:
        assert stored.read() == b"HELLO KILN\n"
    missing = tmp_path / "missing.yaml"
    missing.write_text(DOCUMENT.format(work=work).replace("tools/hello.txt", "tools/nope.txt"))
    failed = subprocess.run(
        [*KILN, "toe", "run", "--documents", str(missing), "--log-directory",
         str(tmp_path / "logs2")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert failed.returncode != 0
    assert "tools/nope.txt" in failed.stdout + failed.stderr
    assert Path(work / "hello.txt").exists()
