"""Clip sampling, unrelated captions, augmentation and batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from r2bench.source import load_source
from r2bench.synonyms import CategoryNamer
from reference_model.training.augment import augment_clip, swap_left_right
from reference_model.training.clips import build_clip_index, sample_frame_indices
from reference_model.training.config import AugmentConfig, DataConfig
from reference_model.training.dataset import (
    EpochBatches,
    ItemKey,
    PairDataset,
    batch_frame_size,
    collate_pairs,
)


@pytest.mark.parametrize("n, anchor, t", [(8, 0, 2), (8, 6, 2), (12, 4, 5), (3, 0, 5),
                                          (30, 10, 5), (5, 4, 1)])
def test_frame_indices_follow_the_release(n, anchor, t):
    for seed in range(20):
        idx = sample_frame_indices(np.random.default_rng(seed), n, anchor, t)
        assert len(idx) == t and idx == sorted(idx) and all(0 <= i < n for i in idx)
        if t == 1:
            assert idx == [anchor]
        elif t <= 3 and anchor > 0:
            assert anchor - 3 <= idx[0] < anchor  # the neighbour before comes first
        if t > 3 and n >= t:
            assert anchor in idx


def test_index_lists_every_expression_per_block(micro_source):
    index = build_clip_index(micro_source, "train", 2)
    frames = {v: len(f) for v, f in index.videos.items()}
    assert len(index.samples) == sum((frames[e.video] + 1) // 2 for e in index.expressions)
    assert {s.anchor for s in index.samples} == {0, 2}


def test_unrelated_captions_obey_the_builder_rule(micro_source):
    index = build_clip_index(micro_source, "train", 2)
    src = load_source(micro_source, "train")
    namer = CategoryNamer(sorted({c for objs in src.objects.values() for c in objs.values()}))
    for vid in index.videos:
        cats = set(src.objects[vid].values())
        for i in index.unrelated_to(vid):
            e = index.expressions[i]
            named = set(namer.names(namer.named(e.text)))
            assert e.video != vid
            assert src.objects[e.video][str(e.obj_id)] not in cats and not named & cats
        # and nothing unrelated is left out
        left_out = set(range(len(index.expressions))) - set(index.unrelated_to(vid).tolist())
        for i in left_out:
            e = index.expressions[i]
            named = set(namer.names(namer.named(e.text)))
            assert e.video == vid or src.objects[e.video][str(e.obj_id)] in cats or named & cats


def test_flip_swaps_left_and_right_words_only():
    assert swap_left_right("the circle left of the star moving right") == \
        "the circle right of the star moving left"
    assert swap_left_right("the bright leftover") == "the bright leftover"
    frames = np.zeros((2, 8, 12, 3), np.uint8)
    frames[:, :, :3] = 255
    masks = frames[..., 0] > 0
    cfg = AugmentConfig(flip_prob=1.0, photometric=False, crop_prob=0.0)
    f, m, cap = augment_clip(np.random.default_rng(0), frames, masks, "moving left", (8, 12),
                             cfg)
    assert cap == "moving right" and f[:, :, -3:].all() and m[:, :, -3:].all()
    assert not m[:, :, :9].any()


def test_batch_sizes_keep_the_aspect_and_the_stride():
    assert batch_frame_size(96, (96, 160), 192) == (96, 160)
    assert batch_frame_size(360, (360, 640), 640) == (360, 640)
    h, w = batch_frame_size(512, (360, 640), 640)  # the longer side is capped
    assert w == 640 and h == 360
    assert batch_frame_size(80, (160, 96), 192) == (132, 80)  # portrait: 133.3 -> 132


def test_global_batches_are_the_same_for_any_process_count():
    one = EpochBatches(40, 8, seed=3, scales=(32, 64), base=(32, 48), max_size=96)
    two = [EpochBatches(40, 8, seed=3, scales=(32, 64), base=(32, 48), max_size=96,
                        rank=r, world_size=2) for r in range(2)]
    for s in [one, *two]:
        s.set_epoch(2)
    for whole, a, b in zip(one, *two):
        assert whole == a + b
        assert len({k.size for k in whole}) == 1
    one.set_epoch(2, first=3)
    assert len(one) == 2 and next(iter(one))[0].position == 24


def test_items_depend_on_their_key_only(micro_source):
    index = build_clip_index(micro_source, "train", 2)
    data = PairDataset(index, DataConfig(), num_frames=2, seed=5)
    key = ItemKey(sample=3, epoch=1, position=17, size=(32, 48))
    a, b = data[key], data[key]
    assert torch.equal(a["frames"], b["frames"]) and a["negatives"] == b["negatives"]
    assert a["frames"].shape == (2, 32, 48, 3) and a["valid"].any()
    other = data[ItemKey(3, 1, 18, (32, 48))]
    assert not torch.equal(a["frames"], other["frames"]) or a["caption"] != other["caption"]
    batch = collate_pairs([a, other])
    assert batch.clip_of_pair.tolist() == [0, 1, 0, 1]
    assert [t["positive"] for t in batch.targets] == [True, True, False, False]
    x = batch.normalised_frames("cpu")
    assert x.shape == (2, 2, 3, 32, 48) and x.dtype == torch.float32


def test_extra_positives_ask_the_same_frames_for_other_visible_objects(micro_source):
    """positives_per_clip=2: each clip also gets the caption of another object of its video
    that is visible in the clip, with that object's masks, flipped with the clip."""
    index = build_clip_index(micro_source, "train", 2)
    src = load_source(micro_source, "train")
    cfg = DataConfig(positives_per_clip=2, augment=AugmentConfig(
        flip_prob=1.0, photometric=False, crop_prob=0.0, scales=(32,)))
    data = PairDataset(index, cfg, num_frames=2, seed=5)
    plain = PairDataset(index, DataConfig(augment=cfg.augment), num_frames=2, seed=5)
    with_extra = 0
    for s, sample in enumerate(index.samples):
        key = ItemKey(s, 0, s, (32, 48))
        item = data[key]
        own = index.expressions[sample.expression]
        for extra in item["extra"]:
            with_extra += 1
            matches = [e for e in index.expressions
                       if e.video == own.video and swap_left_right(e.text) == extra["caption"]]
            assert matches and all(e.obj_id != own.obj_id for e in matches)
            assert extra["valid"].any() and extra["masks"].shape == item["masks"].shape
            assert not (extra["masks"].bool() & item["masks"].bool()).any()  # another object
        n_objects = len(src.objects[own.video])
        if n_objects == 1:
            assert item["extra"] == []
        # the clip itself is the one positives_per_clip=1 makes from the same key
        if not item["extra"]:
            assert torch.equal(item["frames"], plain[key]["frames"])
    assert with_extra > 0
    batch = collate_pairs([data[ItemKey(s, 0, s, (32, 48))] for s in range(len(index.samples))])
    n = len(index.samples)
    positives = [t["positive"] for t in batch.targets]
    assert positives == [True] * (n + with_extra) + [False] * n
    assert batch.clip_of_pair[:n].tolist() == list(range(n))


def test_extra_positives_skip_objects_absent_from_the_clip(micro_source):
    index = build_clip_index(micro_source, "train", 2)
    data = PairDataset(index, DataConfig(positives_per_clip=3), num_frames=2, seed=5)
    referred: dict[str, set[int]] = {}
    for e in index.expressions:
        referred.setdefault(e.video, set()).add(e.obj_id)
    video = next(v for v, objs in referred.items() if len(objs) >= 2)
    own = next(e for e in index.expressions if e.video == video)
    labels = np.zeros((2, 4, 4), np.uint8)
    labels[:, :2] = own.obj_id  # only the expression's own object is in the clip
    assert data._other_objects(np.random.default_rng(0), own, labels) == []
    others = sorted(referred[video] - {own.obj_id})
    labels[1, 3, 3] = others[0]  # one pixel of one other object, in one frame
    picked = data._other_objects(np.random.default_rng(0), own, labels)
    assert [e.obj_id for e in picked] == [others[0]]
