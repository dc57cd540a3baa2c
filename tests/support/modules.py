"""Optional Python packages some tests compare against (in the ``test-core`` extra)."""

from __future__ import annotations

import importlib.util
import os

import pytest


def require_module(name: str, why: str) -> None:
    """Missing: a failure under CI (whose install has it), a skip elsewhere."""
    if importlib.util.find_spec(name) is not None:
        return
    message = f"{name} not installed ({why}; pip install -e '.[test-core]' installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
