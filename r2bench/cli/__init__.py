"""The ``r2bench`` command line: one group, one module per family of commands."""

# Importing a command module registers its commands on `main`.
from r2bench.cli import (
    codabench_cmd,  # noqa: F401
    dataset_cmd,  # noqa: F401
    demo_cmd,  # noqa: F401
    leaderboard_cmd,  # noqa: F401
    model_cmd,  # noqa: F401
    pack_cmd,  # noqa: F401
    perturb_cmd,  # noqa: F401
    profile_cmd,  # noqa: F401
    refdata_cmd,  # noqa: F401
    score_cmd,  # noqa: F401
    train_cmd,  # noqa: F401
)
from r2bench.cli.main import main

__all__ = ["main"]
