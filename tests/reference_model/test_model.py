"""The whole R2-VOS model: output contract, batching, ablation switches, r50 forward/backward,
build and configuration."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from reference_model.config import (
    GroundingConfig,
    HeadConfig,
    R2VOSConfig,
    VTProjectionConfig,
    r50,
    tiny,
)
from reference_model.model import R2VOS

CAPTIONS = ["the small red circle moving left", "the square below the blue star"]
LAYER_KEYS = ("pred_logits", "pred_boxes", "pred_masks")


def _model(cfg: R2VOSConfig, seed: int = 0) -> R2VOS:
    torch.manual_seed(seed)
    return R2VOS(cfg)


def _frames(b: int, t: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, t, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _with_head(cfg: R2VOSConfig, **changes) -> R2VOSConfig:
    return cfg.replace(head=dataclasses.replace(cfg.head, **changes))


def assert_layer_shapes(out: dict, b: int, t: int, q: int, hm: int, wm: int) -> None:
    assert out["pred_logits"].shape == (b, t, q, 1)
    assert out["pred_boxes"].shape == (b, t, q, 4)
    assert out["pred_masks"].shape == (b, t, q, hm, wm)
    assert ((out["pred_boxes"] >= 0) & (out["pred_boxes"] <= 1)).all()


def assert_outputs_close(got: dict, want: dict, keys, atol: float = 1e-5) -> None:
    for key in keys:
        torch.testing.assert_close(got[key], want[key], atol=atol, rtol=1e-5, msg=key)


@pytest.fixture(scope="module")
def tiny_model(tiny_text_dir) -> R2VOS:
    return _model(tiny(tiny_text_dir)).eval()


def test_tiny_forward_contract(tiny_text_dir):
    cfg = tiny(tiny_text_dir)
    assert cfg.input_size == (96, 160) and cfg.transformer.hidden_dim == 64
    out = _model(cfg).train()(_frames(2, 2, 96, 160), CAPTIONS)
    assert set(out) == {*LAYER_KEYS, "pred_pair", "text_embed", "text_recon", "aux_outputs"}
    assert_layer_shapes(out, 2, 2, 5, 24, 40)  # masks at stride 4
    assert out["pred_pair"].shape == (2,)
    assert out["text_embed"].shape == (2, 64) and out["text_recon"].shape == (2, 64)
    assert len(out["aux_outputs"]) == cfg.transformer.dec_layers - 1
    for aux in out["aux_outputs"]:
        assert set(aux) == set(LAYER_KEYS)
        assert_layer_shapes(aux, 2, 2, 5, 24, 40)
    assert all(torch.isfinite(v).all() for v in out.values() if torch.is_tensor(v))


def test_eval_computes_only_the_last_layers_masks(tiny_text_dir):
    # With no dropout and the language model frozen (kept in eval mode), train and eval
    # compute the same values.
    cfg = tiny(tiny_text_dir)
    model = _model(cfg.replace(text_encoder=dataclasses.replace(cfg.text_encoder, freeze=True)))
    frames = _frames(1, 2, 96, 160)
    with torch.no_grad():
        trained = model.train()(frames, CAPTIONS[:1])
        model.eval()
        plain = model(frames, CAPTIONS[:1])
        feats = model.encode_frames(frames.flatten(0, 1))
        with_aux = model.forward_features(feats, CAPTIONS[:1], t=2, aux=True)
        no_aux = model.train().forward_features(feats, CAPTIONS[:1], t=2, aux=False)
    assert plain["aux_outputs"] == [] and no_aux["aux_outputs"] == []
    keys = (*LAYER_KEYS, "pred_pair", "text_recon")
    assert_outputs_close(plain, trained, keys)
    assert_outputs_close(no_aux, trained, keys)
    assert len(with_aux["aux_outputs"]) == len(trained["aux_outputs"]) == 1
    assert_outputs_close(with_aux["aux_outputs"][0], trained["aux_outputs"][0], LAYER_KEYS)


def test_clips_do_not_interact_in_eval(tiny_model):
    frames = _frames(2, 2, 96, 160)
    with torch.no_grad():
        both = tiny_model(frames, CAPTIONS)
        first = tiny_model(frames[:1], CAPTIONS[:1])  # longer caption: no padding alone
        second = tiny_model(frames[1:], CAPTIONS[1:])  # padded in the batch, not alone
    for b, alone in enumerate((first, second)):
        for key in (*LAYER_KEYS, "pred_pair", "text_recon"):
            torch.testing.assert_close(alone[key][0], both[key][b], atol=1e-4, rtol=1e-4)


def test_captions_of_one_video_batched_on_shared_frame_features(tiny_model):
    # what the inference driver does: frames encoded once, tiled over n captions
    captions = ["the big green star moving up", "the square left of the red circle",
                "the tiny purple hexagon"]
    frames = _frames(1, 2, 96, 160, seed=3)
    with torch.no_grad():
        feats = tiny_model.encode_frames(frames[0])
        tiled = feats.tile(3)
        batched = tiny_model.forward_features(tiled, captions, t=2)
        alone = [tiny_model(frames, [c]) for c in captions]
    assert feats.tile(1) is feats
    assert tiled.srcs[0].shape[0] == 6 and torch.equal(tiled.srcs[0][4:], feats.srcs[0])
    assert tiled.f4 is feats.f4  # the stride-4 feature is shared, broadcast by the FPN
    for i, single in enumerate(alone):
        for key in (*LAYER_KEYS, "pred_pair", "text_embed", "text_recon"):
            scale = max(1.0, float(single[key].abs().max()))  # mask logits are in the tens
            torch.testing.assert_close(batched[key][i], single[key][0], atol=1e-5 * scale,
                                       rtol=0, msg=key)


def test_caption_changes_the_prediction(tiny_model):
    frames = _frames(1, 2, 96, 160).expand(2, -1, -1, -1, -1)
    with torch.no_grad():
        out = tiny_model(frames, ["the big green star moving up",
                                  "the square left of the red circle"])
    for key in ("pred_masks", "pred_logits", "pred_pair", "text_recon"):
        assert not torch.allclose(out[key][0], out[key][1]), key


def test_referformer_baseline(tiny_text_dir):
    base = tiny(tiny_text_dir)
    cfg = base.replace(grounding=dataclasses.replace(base.grounding, enabled=False),
                       vt_projection=dataclasses.replace(base.vt_projection, enabled=False),
                       head=dataclasses.replace(base.head, mix_query=False, pair_head=False))
    model = _model(cfg)
    assert model.fpn.grounding is None and model.vt_projection is None
    assert model.query_mixer is None and model.pair_head is None
    out = model(_frames(1, 2, 96, 160), CAPTIONS[:1])
    assert out["text_recon"] is None and out["pred_pair"] is None
    assert out["text_embed"].shape == (1, 64)
    assert_layer_shapes(out, 1, 2, 5, 24, 40)


def test_switch_pair_head_off(tiny_text_dir):
    model = _model(_with_head(tiny(tiny_text_dir), pair_head=False))
    assert model.pair_head is None and model.query_mixer is not None
    out = model(_frames(1, 2, 96, 160), CAPTIONS[:1])
    assert out["pred_pair"] is None and out["text_recon"].shape == (1, 64)


def test_switch_mix_query_off_uses_e_only(tiny_text_dir):
    model = _model(_with_head(tiny(tiny_text_dir), mix_query=False)).eval()
    assert model.query_mixer is None and model.pair_head is not None
    e = torch.randn(1, 64)
    memory = torch.randn(2, 8, 64)
    shapes = torch.tensor([[2, 2], [1, 2], [1, 1], [1, 1]])
    with torch.no_grad():
        hs_a, _ = model._decode(memory, shapes, e, torch.randn(1, 64), t=2)
        hs_b, _ = model._decode(memory, shapes, e, torch.randn(1, 64), t=2)
        torch.testing.assert_close(hs_a, hs_b)  # e' does not reach the queries
        mixed = _model(tiny(tiny_text_dir)).eval()
        hs_c, _ = mixed._decode(memory, shapes, e, torch.randn(1, 64), t=2)
        hs_d, _ = mixed._decode(memory, shapes, e, torch.randn(1, 64), t=2)
    assert not torch.allclose(hs_c, hs_d)


@pytest.mark.parametrize("queries,frames,size,mask_size", [
    (3, 1, (96, 160), (24, 40)),
    (7, 3, (97, 161), (25, 41)),  # odd sizes: masks at the backbone's stride-4 size
])
def test_switch_queries_window_and_size(tiny_text_dir, queries, frames, size, mask_size):
    cfg = _with_head(tiny(tiny_text_dir), num_queries=queries)
    out = _model(cfg).eval()(_frames(1, frames, *size), CAPTIONS[:1])
    assert_layer_shapes(out, 1, frames, queries, *mask_size)


def test_invalid_switch_combinations():
    no_vt = VTProjectionConfig(enabled=False)
    with pytest.raises(ValueError, match="vt_projection"):
        R2VOSConfig(vt_projection=no_vt, head=HeadConfig(pair_head=False))  # mix_query on
    with pytest.raises(ValueError, match="vt_projection"):
        R2VOSConfig(vt_projection=no_vt, head=HeadConfig(mix_query=False))  # pair_head on
    R2VOSConfig(vt_projection=no_vt, head=HeadConfig(mix_query=False, pair_head=False))
    R2VOSConfig(grounding=GroundingConfig(enabled=False))  # V-T projection of the plain top
    with pytest.raises(ValueError, match="multiple of 4"):
        R2VOSConfig(transformer=dataclasses.replace(R2VOSConfig().transformer, hidden_dim=66))
    with pytest.raises(ValueError, match="4 feature levels"):
        R2VOSConfig(transformer=dataclasses.replace(R2VOSConfig().transformer,
                                                    num_feature_levels=3))


def test_caption_count_must_match(tiny_model):
    with pytest.raises(ValueError, match="captions"):
        tiny_model(_frames(2, 1, 96, 160), CAPTIONS[:1])


def test_r50_forward_backward(tiny_text_dir):
    cfg = r50(tiny_text_dir)
    assert (cfg.backbone.name, cfg.transformer.hidden_dim, cfg.num_frames) == ("resnet50", 256, 5)
    assert (cfg.transformer.enc_layers, cfg.transformer.dec_layers) == (4, 4)
    assert cfg.input_size == (360, 640) and cfg.short_side == 360 and cfg.head.num_queries == 5
    assert cfg.grounding.enabled and cfg.vt_projection.enabled
    assert cfg.head.mix_query and cfg.head.pair_head
    model = _model(cfg).train()
    out = model(_frames(1, 2, 64, 96), CAPTIONS[:1])
    assert_layer_shapes(out, 1, 2, 5, 16, 24)  # stride-4 masks
    assert len(out["aux_outputs"]) == 3
    assert out["pred_pair"].shape == (1,) and out["text_recon"].shape == (1, 256)
    loss = out["pred_masks"].mean() + out["pred_boxes"].mean() + out["pred_logits"].mean() \
        + out["pred_pair"].sum() + (out["text_recon"] - out["text_embed"]).pow(2).mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    for name in ("backbone.body.layer4.2.conv3.weight", "fusion.multihead_attn.in_proj_weight",
                 "fpn.grounding.cross_attn.v2l_attn.in_proj_weight",
                 "fpn.grounding.dyn_filter.weight", "vt_projection.text_query.weight",
                 "query_mixer.fc.weight", "pair_head.layers.0.weight",
                 "mask_head.controller.layers.0.weight", "text_encoder.resizer.fc.weight"):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    assert not model.backbone.body.conv1.weight.requires_grad
    assert not any(p.requires_grad for p in model.text_encoder.language_model.parameters())


def test_build_model(tiny_text_dir):
    from reference_model.build import build_model
    from reference_model.criterion import SetCriterion
    from reference_model.postprocess import PostProcess

    model, criterion, post = build_model(tiny(tiny_text_dir))
    assert isinstance(model, R2VOS)
    assert isinstance(criterion, SetCriterion) and isinstance(post, PostProcess)
    with torch.no_grad():
        out = model.eval()(_frames(1, 2, 96, 160), CAPTIONS[:1])
    results = post(out, [(96, 160)])
    assert results[0]["masks"].shape == (2, 96, 160)


def test_config_composition():
    from reference_model.criterion import CriterionConfig
    from reference_model.matcher import MatcherConfig
    from reference_model.postprocess import PostProcessConfig

    cfg = R2VOSConfig()
    assert isinstance(cfg.matcher, MatcherConfig)
    assert isinstance(cfg.criterion, CriterionConfig)
    assert isinstance(cfg.postprocess, PostProcessConfig)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.num_frames = 3
    assert cfg.replace(num_frames=3).num_frames == 3


@pytest.mark.parametrize("make", [tiny, r50])
def test_config_round_trip(make):
    cfg = make("/models/distilroberta-base")
    cfg = cfg.replace(text_encoder=dataclasses.replace(
        cfg.text_encoder, arch={"model_type": "roberta", "hidden_size": 32}))
    assert R2VOSConfig.from_dict(cfg.to_dict()) == cfg
    through_json = R2VOSConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert through_json == cfg and isinstance(through_json.input_size, tuple)
    assert R2VOSConfig.from_dict(make().to_dict()) != cfg


def test_from_dict_rejects_unknown_fields():
    data = tiny().to_dict()
    with pytest.raises(ValueError, match="R2VOSConfig: unknown fields bogus"):
        R2VOSConfig.from_dict(data | {"bogus": 1})
    data["head"]["mask_stride"] = 8  # a field of an earlier version
    with pytest.raises(ValueError, match="HeadConfig: unknown fields mask_stride"):
        R2VOSConfig.from_dict(data)
