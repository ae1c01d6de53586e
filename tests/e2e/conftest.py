"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import pytest

from tests.e2e.consumers import SmallExport, small_export


@pytest.fixture(scope="session")
def small_exported(tmp_path_factory) -> SmallExport:
    """pavilion/2024 of the small processed workspace, exported in every format the
    third-party programs open (built once per test process: seconds)."""
    return small_export(tmp_path_factory.mktemp("small-export"))
