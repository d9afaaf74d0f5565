"""Shared fixtures: the wire twins, and Hypothesis profiles (fixed seed in CI, long hunts locally)."""

from __future__ import annotations

import importlib
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=300, derandomize=True, deadline=None, print_blob=True)
settings.register_profile(
    "hunt", max_examples=200_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_TWINS = {"python": "fastvrrp._wire_py", "cython": "fastvrrp._wire"}


def load_twin(name: str):
    """Import a twin by name; the compiled one must be there unless extensions are disabled."""
    if name == "cython" and os.environ.get("FASTVRRP_NO_EXTENSIONS"):
        pytest.skip("FASTVRRP_NO_EXTENSIONS=1: the compiled twin is disabled on purpose")
    return importlib.import_module(_TWINS[name])


@pytest.fixture(params=sorted(_TWINS))
def wire(request):
    """Each test using `wire` runs once per twin; a missing compiled twin is an error, not a skip."""
    return load_twin(request.param)


@pytest.fixture
def py_wire():
    return load_twin("python")


@pytest.fixture
def c_wire():
    return load_twin("cython")
