"""A micro synthetic source for the training tests (the config: ``training_micro``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from datasets_builder.synth import SynthConfig, write_source


@pytest.fixture(scope="session")
def micro_source(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("micro_synth") / "src"
    write_source(d, SynthConfig(videos=4, train_videos=8, frames=4, height=32, width=48,
                                seed=3), workers=1)
    return d
