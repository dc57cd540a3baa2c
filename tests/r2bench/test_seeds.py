"""The one seed derivation (r2bench.seeds): integer streams are numpy's default_rng of the
same key, so synth, the matching, holdout, training and the bootstrap draw what they always
drew; named streams do not depend on the order of names' siblings or on the process."""

from __future__ import annotations

import numpy as np
import pytest

from r2bench.seeds import derive_seed, rng_for, stream


@pytest.mark.parametrize("key", [(0,), (7,), (3, 1, 0), (12345, 2, 9, 4), (2**40 + 5, 1)])
def test_integer_streams_are_default_rng_of_the_key(key):
    ours = stream(*key).integers(0, 1 << 62, 16)
    theirs = np.random.default_rng(list(key) if len(key) > 1 else key[0]).integers(0, 1 << 62, 16)
    np.testing.assert_array_equal(ours, theirs)


def test_named_streams_differ_by_name_and_replay_from_the_recorded_seed():
    a, b = stream(0, "video-a").random(4), stream(0, "video-b").random(4)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(stream(0, "video-a").random(4), a)
    recorded = derive_seed(5, "plan")
    np.testing.assert_array_equal(rng_for(5, "plan").random(4), stream(recorded).random(4))
    assert 0 <= recorded < 2**63
