"""The local cloud's unit tests mirror its source tree: a folder of tests under
tests/unit/local_cloud/ is named after a package of local_cloud/ at the same place, and the
tests of a top-level module sit beside the packages' folders as test_<module>[_aspect].py.
So the tests of local_cloud/lambda_runtime/ are found in tests/unit/local_cloud/lambda_runtime/,
and a folder named after something the source does not have (say, runtime/ for
lambda_runtime/) fails here. Folders without Python files (sample events) are data, not
tests, and are not checked."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "local_cloud"
TESTS = ROOT / "tests/unit/local_cloud"


def _folders_without_a_package(tests: Path, source: Path) -> list[str]:
    stray: list[str] = []
    for folder in sorted(path for path in tests.rglob("*") if path.is_dir()):
        relative = folder.relative_to(tests)
        if "__pycache__" in relative.parts or not any(folder.glob("*.py")):
            continue
        if not (source / relative / "__init__.py").is_file():
            stray.append(str(relative))
    return stray


def test_every_folder_of_tests_is_named_after_a_package_of_the_local_cloud() -> None:
    stray = _folders_without_a_package(TESTS, SOURCE)
    assert stray == [], (
        f"test folders under {TESTS.relative_to(ROOT)} without a package of the same path "
        f"under {SOURCE.relative_to(ROOT)}: {stray}; move their tests to the folder of the "
        "package they test, or beside the packages' folders as test_<module>.py for a "
        "top-level module"
    )


def test_a_folder_named_after_nothing_in_the_source_is_found(tmp_path: Path) -> None:
    source = tmp_path / "local_cloud"
    (source / "lambda_runtime").mkdir(parents=True)
    (source / "lambda_runtime/__init__.py").write_text("")
    (source / "logs.py").write_text("")
    tests = tmp_path / "tests"
    for folder in ("lambda_runtime", "runtime", "logs", "lambda_runtime/aws_samples"):
        (tests / folder).mkdir(parents=True)
    for test in ("lambda_runtime/test_worker.py", "runtime/test_worker.py", "logs/test_logs.py"):
        (tests / test).write_text("")
    (tests / "lambda_runtime/aws_samples/event.json").write_text("{}")

    # A top-level module is tested beside the folders, not in a folder of its name.
    assert _folders_without_a_package(tests, source) == ["logs", "runtime"]
