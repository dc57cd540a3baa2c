"""System tools some tests need (installed by .ci/run, not by pip)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(names: tuple[str, ...], why: str) -> str:
    """The first of ``names`` on PATH. Missing: a failure under CI (whose .ci/run installs
    it), a skip elsewhere."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    message = f"{' or '.join(names)} not installed ({why}; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
