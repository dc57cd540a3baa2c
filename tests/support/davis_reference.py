"""The per-frame port of the official DAVIS measures, for the tests; it ships in the package
(``r2bench.davis_reference``) because ``r2bench profile --scoring`` times it. The port of
davis2017-evaluation's ``db_statistics`` is test support only."""

from __future__ import annotations

import numpy as np

from r2bench.davis_reference import ref_boundary_f, ref_disk, ref_f, ref_iou, ref_j, ref_seg2bmap

__all__ = ["ref_boundary_f", "ref_db_statistics", "ref_disk", "ref_f", "ref_iou", "ref_j",
           "ref_seg2bmap"]


def ref_db_statistics(per_frame: np.ndarray) -> tuple[float, float, float]:
    """Mean, recall and decay of one object as ``db_statistics`` computes them: NaN-ignoring
    means, four bins with uint8 edges ``round(linspace(1, T, 5) + 1e-10) - 1``, each bin
    ending at (and including) the next edge."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        m = np.nanmean(per_frame)
        o = np.nanmean(per_frame > 0.5)
    ids = (np.round(np.linspace(1, len(per_frame), 5) + 1e-10) - 1).astype(np.uint8)
    # int(): under the numpy 1.x upstream was written for, uint8 + 1 promoted to a wider int
    bins = [per_frame[ids[i]:int(ids[i + 1]) + 1] for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        d = np.nanmean(bins[0]) - np.nanmean(bins[3])
    return m, o, d
