"""The component runner's S3Download and S3Upload work on the local folder store unchanged."""

from __future__ import annotations

from pathlib import Path

from kiln.objectstore import LocalDirectoryStore
from tests.unit.toe.helpers import Runner, document, steps


def test_s3_download_and_upload_through_the_local_store(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path / "objects")
    store.create_bucket("bkt")
    store.create_bucket("out")
    store.put_object("bkt", "one/a.txt", b"A")
    store.put_object("bkt", "one/sub/b.txt", b"B")
    (tmp_path / "in").mkdir()
    (tmp_path / "up" / "deep").mkdir(parents=True)
    (tmp_path / "up" / "deep" / "y.txt").write_text("Y")
    result = Runner(tmp_path)(
        document(
            {
                "name": "Prefix",
                "action": "S3Download",
                "inputs": [{"source": "s3://bkt/one/*", "destination": f"{tmp_path}/in"}],
            },
            {
                "name": "Tree",
                "action": "S3Upload",
                "inputs": [
                    {"source": f"{tmp_path}/up", "recurse": True, "destination": "s3://out/t"}
                ],
            },
            {
                "name": "Escape",
                "action": "S3Upload",
                "inputs": [
                    {"source": f"{tmp_path}/up/deep/y.txt", "destination": "s3://out/../evil"}
                ],
                "onFailure": "Continue",
            },
        ),
        object_store=store,
    )
    assert (tmp_path / "in" / "sub" / "b.txt").read_text() == "B"
    assert (tmp_path / "in" / "a.txt").read_text() == "A"
    assert store.list_objects("out") == ["t/deep/y.txt"]
    assert "'..' segment" in steps(result)["Escape"]["failureMessage"]
    assert not (tmp_path / "objects" / "evil").exists()
