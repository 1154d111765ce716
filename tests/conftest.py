"""Fixtures: a small IDX folder, and local HTTP mirrors (helpers.py has the rest)."""

from __future__ import annotations

import pytest

from helpers import Mirror, write_idx_folder


@pytest.fixture
def idx_folder(tmp_path):
    return write_idx_folder(tmp_path / "idx")


@pytest.fixture
def mirror():
    m = Mirror()
    yield m
    m.close()


@pytest.fixture
def second_mirror():
    m = Mirror()
    yield m
    m.close()


@pytest.fixture
def fresh_hydra_version_base():
    """Hydra's version base is process-wide, and tests that composed this project's config
    left it at 1.3; a launcher's jobs inherit the launching process's. Tests of Hydra's own
    apps start as a fresh process would (version base unset), and leave it as they found it."""
    from hydra import version
    from hydra.core.singleton import Singleton

    state = Singleton.get_state()
    base = version.VersionBase.instance()
    before, base.version_base = base.version_base, version._UNSPECIFIED_
    yield
    base.version_base = before
    Singleton.set_state(state)
