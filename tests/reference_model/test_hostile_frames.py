"""Frames whose header claims 12000x12000 or 20000x20000 pixels: run-reference and training
refuse them in one line naming the file, with no Pillow warning (r2bench/pngsafe.py)."""

from __future__ import annotations

import warnings

import pytest
from r2data import huge_png

from r2bench.errors import DatasetError
from reference_model.inference import _read_frame
from reference_model.training.dataset import _read_rgb


@pytest.mark.parametrize("read", [_read_frame, _read_rgb], ids=["run-reference", "train"])
@pytest.mark.parametrize("n", (12000, 20000))
def test_a_frame_claiming_too_many_pixels(tmp_path, read, n):
    frame = tmp_path / "00000.jpg"
    frame.write_bytes(huge_png(n, n))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(DatasetError, match="too large for Pillow") as err:
            read(frame)
    assert err.value.path == str(frame) and caught == []
