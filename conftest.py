"""Shared test configuration: hypothesis profiles and the 3D-IRCADb data location (the
one rule of :mod:`vesseltree.datasets`)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from vesseltree import datasets

settings.register_profile(
    "ci",
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_ROOT = Path(__file__).resolve().parent


def ircadb_root() -> Path:
    """Folder holding ``3Dircadb1.N`` patient folders: the rule of :mod:`vesseltree.datasets`
    (env ``VESSELTREE_IRCADB``, else ``../shared/data/3Dircadb1`` beside this checkout)."""
    return datasets.ircadb_root(REPO_ROOT)


@pytest.fixture(scope="session")
def ircadb() -> Path:
    """Path to the 3D-IRCADb-01 folder; skips the test with a reason when it is absent."""
    root = ircadb_root()
    if not (root / "3Dircadb1.1" / "MASKS_DICOM.zip").is_file():
        pytest.skip(
            f"3D-IRCADb data not found at {root} (set {datasets.IRCADB_ENV} to the folder "
            "holding 3Dircadb1.N)"
        )
    return root
