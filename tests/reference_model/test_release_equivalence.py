"""The converted model computes what the authors' released code computes.

The fixture in tests/data/release_r2vos was made by running lxa9867/R2VOS unmodified on CPU
(tests/support/make_release_fixture.py): seeded weights (regenerated here from the stored
seed and key list), two small videos, two captions each. Every intermediate the release
exposes is compared at 1e-4 and the final masks must be identical. Here both captions of a
video run in one batch (the release ran them one at a time), so batching is checked too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from release_weights import release_weights

from reference_model.checkpoint import (
    NON_WEIGHT_KEYS,
    check_state,
    convert_release_state_dict,
    infer_release_config,
    model_shapes,
)
from reference_model.model import R2VOS
from reference_model.postprocess import binarize, is_unrelated, select_slot
from reference_model.preprocess import preprocess_frames
from reference_model.text_encoder import language_model_arch

DATA = Path(__file__).parents[1] / "data" / "release_r2vos"
TOL = 1e-4  # of the reference tensor's scale: max(1, max |reference|)


def assert_close(ours, ref, what: str) -> None:
    """|ours - ref| <= 1e-4 * max(1, max |ref|) elementwise. Mask logits are sums of terms in
    the hundreds (relative coordinates are in pixels), so float32 rounding differs by ~1e-4
    there in absolute terms while the values agree to ~1e-6 of their scale."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, what
    scale = max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(ours - ref).max()) / scale
    assert err <= TOL, f"{what}: max error {err:.2e} of scale {scale:.3g}"


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads((DATA / "meta.json").read_text())


@pytest.fixture(scope="module")
def arrays() -> dict[str, np.ndarray]:
    with np.load(DATA / "tensors.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def release_state(meta) -> dict[str, torch.Tensor]:
    state = release_weights([(k, s) for k, s in meta["keys"]], meta["seed"], meta["overrides"])
    state.update({alias: state[src] for alias, src in meta["aliases"].items()})
    return state


@pytest.fixture(scope="module")
def model(meta, release_state) -> R2VOS:
    text_dir = str(DATA / "text_encoder")
    state = convert_release_state_dict(release_state)
    cfg = infer_release_config(state, language_model_arch(text_dir))
    cfg = cfg.replace(text_encoder=cfg.text_encoder.__class__(
        path=text_dir, arch=cfg.text_encoder.arch), short_side=meta["inf_res"])
    net = R2VOS(cfg, pretrained_text=False)
    check_state(state, model_shapes(net))
    net.load_state_dict(state, strict=False)
    return net.eval()


def test_every_released_key_is_mapped_once(meta, release_state):
    state = convert_release_state_dict(release_state)
    weights = [k for k, _ in meta["keys"] if not NON_WEIGHT_KEYS.match(k)]
    assert len(state) == len(weights)  # aliases collapse onto their source, nothing else merges
    assert len(set(state)) == len(state)


def test_inferred_config_is_the_fixture_model(model):
    cfg = model.cfg
    assert (cfg.transformer.enc_layers, cfg.transformer.dec_layers) == (1, 2)
    assert (cfg.transformer.dim_feedforward, cfg.transformer.dec_n_points) == (64, 2)
    assert cfg.backbone.name == "resnet50" and cfg.head.dynamic_channels == 8
    assert cfg.grounding.enabled and cfg.head.mix_query and cfg.head.pair_head
    assert cfg.vt_projection.layers == 3 and cfg.vt_projection.dim_feedforward == 2048


def test_tokenizer_gives_the_release_token_ids(meta, model):
    for caption, ids in meta["token_ids"].items():
        assert model.text_encoder.tokenizer([caption])["input_ids"][0] == ids


def _video_pairs(meta):
    for name, *_ in meta["videos"]:
        yield name, [f"{name}/0", f"{name}/1"]


def _run_video(model, frames_uint8, captions, short_side):
    """Our model on one video, both captions batched, with the release's intermediates."""
    seen: dict[str, object] = {"fused": []}

    def keep(name, pick):
        def hook(module, inputs, output):  # returns None: the output is left as it is
            if name == "fused":
                seen["fused"].append(output)
            else:
                seen.setdefault(name, pick(output))
        return hook

    hooks = [model.fusion.register_forward_hook(keep("fused", None)),
             model.encoder.register_forward_hook(keep("memory", lambda o: o)),
             model.fpn.register_forward_hook(keep("mask", lambda o: o[0])),
             model.decoder.register_forward_hook(keep("hs", lambda o: o[0]))]
    x = preprocess_frames(frames_uint8, short_side)
    with torch.no_grad():
        feats = model.encode_frames(x).tile(len(captions))
        out = model.forward_features(feats, captions, x.shape[0], aux=True)
    for h in hooks:
        h.remove()
    return x, out, seen


@pytest.mark.slow
def test_per_layer_outputs_and_masks_equal_the_release(meta, arrays, model):
    for name, pairs in _video_pairs(meta):
        frames = arrays[f"{pairs[0]}/frames"]
        captions = [meta["pairs"][p] for p in pairs]
        x, out, seen = _run_video(model, frames, captions, meta["inf_res"])
        t = x.shape[0]
        np.testing.assert_allclose(x.numpy(), arrays[f"{pairs[0]}/input"], rtol=0, atol=1e-6)
        layers = out["aux_outputs"] + [out]
        for b, pair in enumerate(pairs):
            def ref(key, _pair=pair):
                return arrays[f"{_pair}/{key}"]

            for level, fused in enumerate(seen["fused"]):
                if f"{pair}/fused{level}" in arrays:
                    ours = fused[b].reshape(t, -1, fused.shape[-1]).numpy()
                    assert_close(ours, ref(f"fused{level}"), f"{pair} fused level {level}")
            if f"{pair}/memory" in arrays:
                assert_close(seen["memory"][b * t:(b + 1) * t], ref("memory"), f"{pair} memory")
            if f"{pair}/mask_features" in arrays:
                assert_close(seen["mask"][b * t:(b + 1) * t], ref("mask_features"),
                             f"{pair} mask features")
            assert_close(seen["hs"][:, b * t:(b + 1) * t], ref("hs"), f"{pair} decoder states")
            assert_close(out["text_embed"][b], ref("sentence")[0], f"{pair} e")
            assert_close(out["text_recon"][b], ref("recon")[0], f"{pair} e'")
            assert_close(out["pred_pair"][b].sigmoid(), ref("pair_prob")[0], f"{pair} pair")
            for i, layer in enumerate(layers):
                for key in ("pred_logits", "pred_boxes", "pred_masks"):
                    assert_close(layer[key][b], ref(f"{key}{i}"), f"{pair} {key} layer {i}")
            slot = select_slot(out["pred_logits"][b].sigmoid().mean(0))
            assert slot == int(ref("slot"))
            masks = binarize(out["pred_masks"][b, :, slot], frames.shape[1:3])
            if is_unrelated(out["pred_pair"][b]):
                masks = torch.zeros_like(masks)
            np.testing.assert_array_equal(masks.numpy().astype(np.uint8) * 255, ref("masks"))


def test_fixture_covers_both_pair_decisions(arrays):
    probs = [float(arrays[k][0]) for k in arrays if k.endswith("/pair_prob")]
    assert min(probs) < 0.5 <= max(probs)
