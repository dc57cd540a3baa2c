"""The pages of an r2bench Codabench bundle (markdown), and its starting kit's README.

Each page is a function of `BundleFacts`, the numbers of the R2 dataset the bundle was
made from, so the pages state the task exactly as the scoring program checks it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BundleFacts:
    """What the pages say about the dataset and the scorer."""

    title: str
    split: str
    seed: int
    videos: int
    positive_pairs: int
    negative_pairs: int
    frames: int
    dataset_sha256: str
    r2bench_version: str


def overview(f: BundleFacts) -> str:
    return f"""# {f.title}

Robust referring video object segmentation (R2-VOS): given a video and a text expression,
segment the object the expression refers to in every frame, and segment *nothing* when the
expression does not refer to anything in the video.

The benchmark pairs every expression with two videos:

- its own video (a **positive pair**): the referred object is there, segment it;
- another video, chosen so that the expression is unrelated to it: neither its target's
  category nor any category it names appears there (a **negative pair**): the right answer
  is an empty mask in every frame.

This benchmark holds {f.videos} videos of the `{f.split}` split, {f.positive_pairs} positive
and {f.negative_pairs} negative pairs, {f.frames} frames to predict in all. The ground truth
stays on the platform; submissions are scored by r2bench {f.r2bench_version}, the scorer
that made this bundle (`r2bench score`), so a local score on a dataset with ground truth
reads the same.

See *Evaluation* for the measures, *Submission* for the file format and *Data* for the
inputs.
"""


def evaluation(f: BundleFacts) -> str:
    return """# Evaluation

All measures are fractions shown x100 with one decimal, as papers print them. The
leaderboard ranks by J&F&R.

- **J** (region similarity): per frame |G ∩ P| / |G ∪ P| (1 when both are empty); a
  positive pair's J is the mean over its frames, the leaderboard's J the mean over positive
  pairs. Identical to the DAVIS 2017 evaluation (`db_eval_iou`).
- **F** (contour accuracy): the DAVIS boundary F-measure (`db_eval_boundary`, boundaries
  matched within 0.008 of the image diagonal), averaged like J.
- **J&F** = (J + F) / 2.
- **R** (robustness) = 1 − (predicted foreground pixels over all negative pairs) /
  (predicted foreground pixels over all positive pairs). It can fall below 0. It is left
  empty when a submission predicts no foreground on any positive pair.
- **J&F&R** = (J + F + R) / 3.
- **N-acc**: the share of negative pairs predicted empty (no foreground pixel in any of
  their frames), as generalised referring segmentation (GRES) reports it.

Every frame of every pair must be predicted, at the size of its video; a missing or extra
pair or frame, or a wrong size, fails the submission with a message naming it.

The scoring output of a submission includes `results.json`, with every pair's J, F and
predicted area and further measures (T-acc, gIoU, cIoU, frame N-acc).
"""


def submission(f: BundleFacts) -> str:
    return """# Submission

Submit one zip with two folders at its root, one PNG per frame of every pair:

```
positive/<VIDEO>/<EXP_ID>/<FRAME>.png     the expression on its own video
negative/<VIDEO>/<EXP_ID>/<FRAME>.png     the expression on its negative video
```

`<VIDEO>` and `<EXP_ID>` are the video and expression ids of the expression (the negative
pair keeps the expression's own video id, whose frames come from the paired video: see
*Data*); `<FRAME>` is each frame name of the video the pair covers. A PNG in any mode
works; a non-zero pixel is foreground. The zip may also hold one folder that holds
`positive/` and `negative/`.

With r2bench (`pip install` it from its repository) and the dataset folder of *Data*:

```
r2bench check PREDS --dataset R2DIR              # every pair and frame there, right size
r2bench pack PREDS --dataset R2DIR --labels both --out submission.zip
```

An R-VOS inference script run unchanged on `R2DIR/positive` and on `R2DIR/negative` writes
`PREDS/positive/...` and `PREDS/negative/...` (an `Annotations/` level inside them is fine:
`pack` removes it).

The starting kit holds `sample_submission.zip` (every frame, empty masks: N-acc 100, J and
F low, R empty) and `r2_meta.json`, which lists every pair and its frames.
"""


def data(f: BundleFacts) -> str:
    return f"""# Data

The inputs are an R2 dataset built by `r2bench build-dataset` from the `{f.split}` split
with seed {f.seed}: a folder with `r2_meta.json` (the pairs, their frames and sizes),
`positive/` (a Ref-Youtube-VOS layout root of the split) and `negative/` (the same layout,
in which each video id holds the frames of its negative video, so an unchanged inference
script produces the negative predictions). The organisers say where to get it; building it
again from the same source split with the same seed gives the same files.

Check that you have the right one: the sha256 of its `r2_meta.json` is

    {f.dataset_sha256}

(`sha256sum r2_meta.json`). The starting kit holds that file.
"""


TERMS = """# Terms

The organisers state the terms of participation here. By default: submissions are scored
on hidden ground truth; do not try to obtain it, nor annotate the test videos by hand; one
account per team; the organisers may publish the leaderboard and the methods' names.
"""


def starting_kit_readme(f: BundleFacts) -> str:
    return f"""# Starting kit: {f.title}

- `r2_meta.json`: the benchmark's pairs ({f.positive_pairs} positive, {f.negative_pairs}
  negative), their videos, frames and sizes (sha256 {f.dataset_sha256}).
- `sample_submission.zip`: a valid submission (empty masks everywhere), in the format the
  platform scores: `positive/VID/EXP_ID/FRAME.png` and `negative/VID/EXP_ID/FRAME.png`.

Make yours with r2bench {f.r2bench_version}:

    r2bench check PREDS --dataset R2DIR
    r2bench pack PREDS --dataset R2DIR --labels both --out submission.zip
"""
