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
