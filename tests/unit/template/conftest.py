"""template.yaml, read and translated once for every rule test."""

from __future__ import annotations

import pytest

from tests.unit.template.cfn_template import Templates, load_templates


@pytest.fixture(scope="session")
def templates() -> Templates:
    return load_templates()
