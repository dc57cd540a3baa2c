import importlib.util
import sys
from pathlib import Path

# Test-support modules (the DAVIS reference port, data writers) live in tests/support.
sys.path.insert(0, str(Path(__file__).parent / "support"))

# The reference model's tests need the `model` extra (torch, transformers). The README's
# test command installs `.[test]`, which includes it, so there every test runs; an
# environment with only `.[test-core]` (the scorer and the builder, docs/testing.md) does
# not collect tests/reference_model, and the report header says so.
MODEL_DEPENDENCIES = ("torch", "transformers", "safetensors")
_MISSING = [m for m in MODEL_DEPENDENCIES if importlib.util.find_spec(m) is None]
collect_ignore_glob = ["reference_model/*"] if _MISSING else []


def pytest_report_header(config):
    if _MISSING:
        return (f"tests/reference_model not collected: {', '.join(_MISSING)} not installed "
                "(pip install -e '.[test]' runs them)")
    return None
