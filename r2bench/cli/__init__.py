"""The ``r2bench`` command line: one group, one module per family of commands."""

from r2bench.cli.main import main

# Importing a command module registers its commands on `main`.
from r2bench.cli import score_cmd  # noqa: E402,F401
from r2bench.cli import dataset_cmd  # noqa: E402,F401
from r2bench.cli import demo_cmd  # noqa: E402,F401

__all__ = ["main"]
