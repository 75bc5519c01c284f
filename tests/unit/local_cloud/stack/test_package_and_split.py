"""Zips are named by content; what moto receives has no event source mappings."""

from __future__ import annotations

import zipfile
from pathlib import Path

from local_cloud.stack.deploy import _without_event_source_mappings
from local_cloud.stack.package import tree_digest, zip_tree


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
