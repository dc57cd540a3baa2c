"""The published rows of the R2-VOS paper (Li et al., "Robust Referring Video Object
Segmentation with Cyclic Structural Consensus"), Tables 1 and 2, as data.

Values are the paper's, x100 with one decimal, transcribed by hand and checked twice: each
J&F of Table 1 against (J + F) / 2 and each J&F&R of Table 2 against (J + F + R) / 3 (all
agree to the rounding of the printed digits), and the differences the text quotes (57.3 is
+1.7 over ReferFormer's 55.6 on Ref-Youtube-VOS; 59.7 is +1.2 over ReferFormer's 58.5 on
Ref-DAVIS17). "R2-VOS" is the paper's "Ours". ``preprint`` marks the paper's asterisk
(results imported from preprints).

Table 1 prints Ref-DAVIS17 numbers for five methods only: CMSA, CMSA + RNN, URVOS, and
ReferFormer and R2-VOS with ResNet-50 (the others show "-"), so the ``ref-davis`` rows are
those five. Table 2 has no J&F column; those cells stay empty rather than derived. The
paper gives speed only in its text (30 FPS for R2-VOS and 22 FPS for ReferFormer, ResNet-50,
on one NVIDIA P40); it is not put in the FPS column, which holds speeds measured here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAPER = "the R2-VOS paper"


@dataclass(frozen=True)
class PublishedRow:
    """One row of a published table; measures in percent as printed, None where absent."""

    method: str
    backbone: str
    table: str
    values: dict[str, float | None] = field(default_factory=dict)
    preprint: bool = False


def _t1(method, backbone, jf, j, f, preprint=False):
    return PublishedRow(method, backbone, "Table 1",
                        {"J": j, "F": f, "JF": jf, "R": None, "JFR": None}, preprint)


def _t2(method, backbone, jfr, j, f, r, preprint=False):
    return PublishedRow(method, backbone, "Table 2",
                        {"J": j, "F": f, "JF": None, "R": r, "JFR": jfr}, preprint)


# Table 1, Ref-Youtube-VOS: J&F, J, F.
REF_YTVOS = (
    _t1("CMSA", "ResNet-50", 34.9, 33.3, 36.5),
    _t1("CMSA + RNN", "ResNet-50", 36.4, 34.8, 38.1),
    _t1("URVOS", "ResNet-50", 47.2, 45.3, 49.2),
    _t1("PMINet", "ResNet-101", 53.0, 51.5, 54.5),
    _t1("CITD", "ResNet-101", 56.4, 54.8, 58.1),
    _t1("ReferFormer", "ResNet-50", 55.6, 54.8, 56.5, preprint=True),
    _t1("R2-VOS", "ResNet-50", 57.3, 56.1, 58.4),
    _t1("ReferFormer", "Swin-T", 58.7, 57.6, 59.9, preprint=True),
    _t1("R2-VOS", "Swin-T", 60.2, 58.9, 61.5),
    _t1("MTTR", "Video-Swin-T", 55.3, 54.0, 56.6, preprint=True),
    _t1("ReferFormer", "Video-Swin-T", 59.4, 58.0, 60.9, preprint=True),
    _t1("R2-VOS", "Video-Swin-T", 61.3, 59.6, 63.1),
)

# Table 1, Ref-DAVIS17: J&F, J, F (the rows that have numbers).
REF_DAVIS = (
    _t1("CMSA", "ResNet-50", 34.7, 32.2, 37.2),
    _t1("CMSA + RNN", "ResNet-50", 40.2, 36.9, 43.5),
    _t1("URVOS", "ResNet-50", 51.5, 47.3, 56.0),
    _t1("ReferFormer", "ResNet-50", 58.5, 55.8, 61.3, preprint=True),
    _t1("R2-VOS", "ResNet-50", 59.7, 57.2, 62.4),
)

# Table 2, R2-Youtube-VOS: J&F&R, J, F, R.
R2_YTVOS = (
    _t2("ReferFormer", "ResNet-50", 47.3, 54.8, 56.5, 30.6, preprint=True),
    _t2("R2-VOS", "ResNet-50", 69.5, 55.9, 58.4, 94.1),
    _t2("MTTR", "Video-Swin-T", 40.0, 55.9, 58.1, 5.9, preprint=True),
    _t2("ReferFormer", "Video-Swin-T", 49.1, 58.0, 60.9, 28.5, preprint=True),
    _t2("R2-VOS", "Video-Swin-T", 72.8, 59.6, 63.1, 95.7),
)

PROTOCOLS = {"ref-ytvos": REF_YTVOS, "ref-davis": REF_DAVIS, "r2-ytvos": R2_YTVOS}
DATASET_NAMES = {"ref-ytvos": "Ref-Youtube-VOS", "ref-davis": "Ref-DAVIS17",
                 "r2-ytvos": "R2-Youtube-VOS"}


def published_rows(protocol: str) -> tuple[PublishedRow, ...]:
    """The paper's rows for ``ref-ytvos``, ``ref-davis`` or ``r2-ytvos``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol]
