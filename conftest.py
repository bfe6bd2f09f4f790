"""Shared test configuration: hypothesis profiles and the 3D-IRCADb data location."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

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
DATA_ENV = "VESSELTREE_IRCADB"


# where the project's machines keep the shared data: beside the checkout, else the workplace copy
_DEFAULT_ROOTS = (
    REPO_ROOT.parent / "shared" / "data" / "3Dircadb1",
    Path("/work/shared/data/3Dircadb1"),
)


def ircadb_root() -> Path:
    """Folder holding ``3Dircadb1.N`` patient folders (env ``VESSELTREE_IRCADB`` overrides)."""
    if DATA_ENV in os.environ:
        return Path(os.environ[DATA_ENV])
    for root in _DEFAULT_ROOTS:
        if root.is_dir():
            return root
    return _DEFAULT_ROOTS[0]


@pytest.fixture(scope="session")
def ircadb() -> Path:
    """Path to the 3D-IRCADb-01 folder; skips the test with a reason when it is absent."""
    root = ircadb_root()
    if not (root / "3Dircadb1.1" / "MASKS_DICOM.zip").is_file():
        pytest.skip(
            f"3D-IRCADb data not found at {root} (set {DATA_ENV} to the folder holding 3Dircadb1.N)"
        )
    return root
