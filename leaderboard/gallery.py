"""The failure gallery: the worst positive pairs (lowest J) and the worst negative pairs
(largest predicted area) of one submission, as thumbnails.

Each thumbnail is one frame of the pair, the frame that shows the failure best (the lowest J
of a positive pair, the largest predicted area of a negative one), with the prediction
filled in red and the ground-truth outline in green. Reading the predictions again also
checks them: their J and area must be the ones in the results, or the predictions and the
results are not of the same submission.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from r2bench.dataset import EvalDataset, PairSpec
from r2bench.errors import R2BenchError
from r2bench.metrics import region_similarity
from r2bench.pngsafe import no_bombs
from r2bench.refytvos import RefYTVOSRoot, read_annotations
from r2bench.submission import Submission, read_mask

PRED_RGB = np.array([230, 30, 30], np.float32)
GT_RGB = np.array([40, 230, 60], np.uint8)


@dataclass(frozen=True)
class GalleryItem:
    """One thumbnail: ``image`` is its PNG bytes, ``caption`` the expression."""

    pair_id: str
    label: str
    frame: str
    caption: str
    detail: str
    image: bytes


def worst_pairs(results: dict, n: int) -> tuple[list[dict], list[dict]]:
    """The n positive pairs of lowest J and the n negative pairs of largest area."""
    pos = [p for p in results["pairs"] if p["label"] == "positive" and p.get("J") is not None]
    neg = [p for p in results["pairs"] if p["label"] == "negative"]
    pos.sort(key=lambda p: (p["J"], p["pair_id"]))
    neg.sort(key=lambda p: (-p["area"], p["pair_id"]))
    return pos[:n], [p for p in neg[:n] if p["area"] > 0]


def expressions(ds: EvalDataset) -> dict[str, str]:
    """pair_id -> the expression's text."""
    return {p.pair_id: p.exp for p in ds.pairs}


def frames_root(ds: EvalDataset) -> RefYTVOSRoot:
    """The root whose JPEGImages hold every video's frames."""
    return RefYTVOSRoot(ds.path / "positive" if ds.mode == "r2" else ds.path, ds.split)


def _frame_rgb(root: RefYTVOSRoot, pair: PairSpec, frame: str) -> np.ndarray:
    path = root.jpeg_path(pair.video, frame)
    try:
        with no_bombs(), Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError):
        rgb = None
    if rgb is None or rgb.shape[:2] != tuple(pair.size):
        return np.full((*pair.size, 3), 128, np.uint8)     # no image: a grey canvas
    return rgb


def thumbnail(rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray | None, width: int) -> bytes:
    """PNG bytes: ``rgb`` (H, W, 3) with ``pred`` (H, W) filled red and ``gt`` outlined."""
    h, w = pred.shape
    out = rgb.astype(np.float32)
    out[pred] = 0.45 * out[pred] + 0.55 * PRED_RGB
    out = out.round().astype(np.uint8)
    if gt is not None and gt.any():
        k = max(1, round(w / width))                       # about one thumbnail pixel
        out[gt & ~ndimage.binary_erosion(gt, iterations=k, border_value=0)] = GT_RGB
    im = Image.fromarray(out)
    if w > width:
        im = im.resize((width, max(1, round(h * width / w))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _pred_stack(preds: Submission, pair: PairSpec) -> np.ndarray:
    masks = np.zeros((len(pair.frames), *pair.size), bool)              # (T, H, W)
    for t, f in enumerate(pair.frames):
        loc = preds.frames.get((pair.pair_id, f))
        if loc is not None:
            masks[t] = read_mask(loc, pair.size, f"{pair.pair_id}/{f}")
    return masks


def _mismatch(pair_id: str, what: str, here: float, there: float) -> R2BenchError:
    return R2BenchError(None, f"the predictions do not give the scores in the results "
                              f"(pair {pair_id}: {what} {here:.4f} here, {there:.4f} in the "
                              f"results): they are not of the same submission")


def _positive_item(ds, preds, pair, result, text, root, width) -> GalleryItem:
    pred = _pred_stack(preds, pair)
    gt = read_annotations([ds.gt_root.annotation_path(pair.video, f) for f in pair.frames],
                          pair.size) == np.uint8(int(pair.obj_id))        # (T, H, W)
    j = region_similarity(gt, pred)
    if abs(float(j.mean()) - result["J"]) > 1e-6:
        raise _mismatch(pair.pair_id, "J", float(j.mean()), result["J"])
    t = int(np.argmin(j))
    image = thumbnail(_frame_rgb(root, pair, pair.frames[t]), pred[t], gt[t], width)
    detail = f"J {100 * result['J']:.1f} (frame {pair.frames[t]}: {100 * j[t]:.1f})"
    return GalleryItem(pair.pair_id, "positive", pair.frames[t], text, detail, image)


def _negative_item(preds, pair, result, text, root, width) -> GalleryItem:
    pred = _pred_stack(preds, pair)
    areas = pred.sum(axis=(1, 2))
    if int(areas.sum()) != result["area"]:
        raise _mismatch(pair.pair_id, "area", float(areas.sum()), float(result["area"]))
    t = int(np.argmax(areas))
    image = thumbnail(_frame_rgb(root, pair, pair.frames[t]), pred[t], None, width)
    share = 100 * areas.sum() / (pred.size or 1)
    detail = f"predicted area {share:.1f}% of the frames (video {pair.video})"
    return GalleryItem(pair.pair_id, "negative", pair.frames[t], text, detail, image)


def gallery(ds: EvalDataset, preds: Submission, results: dict, n: int = 8,
            width: int = 240) -> tuple[list[GalleryItem], list[GalleryItem]]:
    """Thumbnails of the worst positive and the worst negative pairs."""
    specs = {p.pair_id: p for p in ds.pairs}
    texts = expressions(ds)
    root = frames_root(ds)
    worst_pos, worst_neg = worst_pairs(results, n)
    pos = [] if ds.gt_root is None else [
        _positive_item(ds, preds, specs[r["pair_id"]], r, texts.get(r["pair_id"], ""), root,
                       width) for r in worst_pos]
    neg = [_negative_item(preds, specs[r["pair_id"]], r, texts.get(r["pair_id"], ""), root,
                          width) for r in worst_neg]
    return pos, neg


def write_items(items: list[GalleryItem], folder: Path) -> list[str]:
    """Write each thumbnail into ``folder``; their paths relative to its parent."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, item in enumerate(items):
        name = f"{item.label}_{i:02d}.png"
        (folder / name).write_bytes(item.image)
        names.append(f"{folder.name}/{name}")
    return names
