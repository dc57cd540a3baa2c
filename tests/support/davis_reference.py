"""The per-frame port of the official DAVIS measures, for the tests; it ships in the package
(``r2bench.davis_reference``) because ``r2bench profile --scoring`` times it."""

from r2bench.davis_reference import ref_boundary_f, ref_disk, ref_f, ref_iou, ref_j, ref_seg2bmap

__all__ = ["ref_boundary_f", "ref_disk", "ref_f", "ref_iou", "ref_j", "ref_seg2bmap"]
