"""The ``model`` extra on the command line: the reference-model commands call `quiet_hf`
before importing `reference_model`."""

from __future__ import annotations

from r2bench.cli.main import CommandError


def quiet_hf() -> None:
    """No Hugging Face progress bars or advisory warnings on the command line; a clear
    error when the model's dependencies are not installed."""
    try:
        import safetensors  # noqa: F401
        import torch  # noqa: F401
        import transformers
    except ImportError as e:
        raise CommandError(f"the reference model needs the model extra ({e.name} is missing): "
                           "pip install -e '.[model]'", 2) from None

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
