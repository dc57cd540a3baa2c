"""r2bench: build, score and publish Robust Referring Video Object Segmentation (R2-VOS).

The core package holds the formats (Ref-Youtube-VOS layout, R2 dataset, submissions),
the unrelatedness rule, the seeds, the worker pool, the metrics (J, F, R) and the scorer.
It needs numpy, scipy, Pillow, pycocotools, numba (the metric kernels) and tqdm (progress),
never torch. `datasets_builder`, `reference_model` and `leaderboard` build on the core and
never the other way round; the application above them all, ``r2bench.cli`` (the command
line) and ``r2bench.app`` (the demo), imports everything (docs/architecture.md).
"""

__version__ = "0.1.0"
