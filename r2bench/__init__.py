"""r2bench: build, score and publish Robust Referring Video Object Segmentation (R2-VOS).

The core package holds the formats (Ref-Youtube-VOS layout, R2 dataset, submissions),
the metrics (J, F, R), the scorer and the command line. It depends on numpy, scipy,
Pillow and pycocotools only; `datasets_builder`, `reference_model` and `leaderboard`
build on it, never the other way round.
"""

__version__ = "0.1.0"
