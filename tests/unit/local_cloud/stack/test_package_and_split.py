"""Zips are named by their build's key or their content; what moto receives has no event
source mappings."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest

from local_cloud.stack import package
from local_cloud.stack.deploy import _without_event_source_mappings
from local_cloud.stack.package import S3ArtifactStore, tree_digest, zip_tree


def test_the_digest_follows_names_and_contents(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a/app.py").write_text("x = 1\n")
    first = tree_digest(tmp_path / "a")
    assert tree_digest(tmp_path / "a") == first
    (tmp_path / "a/app.py").write_text("x = 2\n")
    assert tree_digest(tmp_path / "a") != first


def test_an_unchanged_build_reuses_its_zip(tmp_path: Path) -> None:
    (tmp_path / "build/pkg").mkdir(parents=True)
    (tmp_path / "build/pkg/mod.py").write_text("y = 1\n")
    archive = zip_tree(tmp_path / "build", tmp_path / "zips")
    modified = archive.stat().st_mtime_ns
    assert zip_tree(tmp_path / "build", tmp_path / "zips") == archive
    assert archive.stat().st_mtime_ns == modified
    with zipfile.ZipFile(archive) as bundle:
        assert bundle.namelist() == ["pkg/mod.py"]


def test_mappings_are_kept_for_the_pollers_and_references_to_them_dropped() -> None:
    template = {
        "Resources": {
            "Fn": {"Type": "AWS::Lambda::Function"},
            "Mapping": {"Type": "AWS::Lambda::EventSourceMapping"},
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "DependsOn": "Mapping"},
            "Other": {"Type": "AWS::SNS::Topic", "DependsOn": ["Mapping", "Fn"]},
        }
    }
    for_moto, mappings = _without_event_source_mappings(template)
    assert set(mappings) == {"Mapping"}
    assert set(for_moto["Resources"]) == {"Fn", "Alarm", "Other"}
    assert "DependsOn" not in for_moto["Resources"]["Alarm"]
    assert for_moto["Resources"]["Other"]["DependsOn"] == ["Fn"]
    assert "Mapping" in template["Resources"]  # the input is not modified


def test_a_keyed_build_is_zipped_under_its_key_without_reading_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build/app.py").write_text("z = 1\n")

    def no_digest(directory: Path) -> str:
        raise AssertionError("a keyed build's files are not read for a digest")

    monkeypatch.setattr(package, "tree_digest", no_digest)
    archive = zip_tree(tmp_path / "build", tmp_path / "zips", "k1")
    assert archive.name == "build-k1.zip"
    assert zip_tree(tmp_path / "build", tmp_path / "zips", "k1") == archive
    (tmp_path / "build/app.py").write_text("z = 2\n")  # rebuilt: a new key
    other = zip_tree(tmp_path / "build", tmp_path / "zips", "k2")
    assert other != archive
    with zipfile.ZipFile(other) as bundle:
        assert bundle.read("app.py") == b"z = 2\n"


def test_the_store_puts_a_zip_in_one_request(tmp_path: Path) -> None:
    archive = tmp_path / "build-k1.zip"
    archive.write_bytes(b"PK-not-really")
    calls: list[dict[str, Any]] = []

    class S3:
        def put_object(self, **request: Any) -> None:
            calls.append({**request, "Body": request["Body"].read()})

    assert S3ArtifactStore(S3(), "bucket").upload(archive) == ("bucket", "artifacts/build-k1.zip")
    assert calls == [
        {"Bucket": "bucket", "Key": "artifacts/build-k1.zip", "Body": b"PK-not-really"}
    ]
