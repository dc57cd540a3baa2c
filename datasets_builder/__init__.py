"""datasets_builder: the synthetic Ref-Youtube-VOS-layout source and the R2 dataset builder.

Synthetic source (docs/formats.md §1, ``r2bench synth``):
    ``scene`` (objects, attributes, tracks) -> ``render`` (frames, palette annotations),
    ``expressions`` (referring expressions, VOCABULARY) -> ``synth`` (the files).
R2 dataset (paper §5.1, docs/formats.md §2, ``r2bench build-dataset`` / ``verify-dataset``):
    ``synonyms`` (which categories a text names) -> ``constraints`` (bitmasks per video)
    -> ``matching`` (the negative permutation) -> ``build`` (the files) -> ``verify``.
``demo``: reference submissions made from the ground truth, and the README's flow.

This package builds on ``r2bench`` core; ``r2bench`` core never imports it.
"""
