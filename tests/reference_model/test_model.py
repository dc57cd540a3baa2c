"""The whole R2-VOS model: output contract, ablation switches, r50 forward/backward, build."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from reference_model.config import GroundingConfig, HeadConfig, R2VOSConfig, r50, tiny
from reference_model.model import R2VOS

CAPTIONS = ["the small red circle moving left", "the square below the blue star"]


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


def test_tiny_forward_contract(tiny_text_dir):
    cfg = tiny(tiny_text_dir)
    assert cfg.input_size == (96, 160) and cfg.transformer.hidden_dim == 64
    out = _model(cfg)(_frames(2, 2, 96, 160), CAPTIONS)
    assert_layer_shapes(out, 2, 2, 5, 12, 20)  # tiny predicts masks at stride 8
    assert out["pred_align"].shape == (2,)
    assert out["text_embed"].shape == (2, 64) and out["text_recon"].shape == (2, 64)
    assert len(out["aux_outputs"]) == cfg.transformer.dec_layers - 1
    for aux in out["aux_outputs"]:
        assert set(aux) == {"pred_logits", "pred_boxes", "pred_masks"}
        assert_layer_shapes(aux, 2, 2, 5, 12, 20)
    assert all(torch.isfinite(v).all() for v in out.values() if torch.is_tensor(v))


def test_clips_do_not_interact_in_eval(tiny_text_dir):
    model = _model(tiny(tiny_text_dir)).eval()
    frames = _frames(2, 2, 96, 160)
    with torch.no_grad():
        both = model(frames, CAPTIONS)
        first = model(frames[:1], CAPTIONS[:1])  # shorter caption: no padding in this batch
    for key in ("pred_logits", "pred_boxes", "pred_masks", "pred_align", "text_recon"):
        torch.testing.assert_close(first[key][0], both[key][0], atol=1e-4, rtol=1e-4)


def test_caption_changes_the_prediction(tiny_text_dir):
    model = _model(tiny(tiny_text_dir)).eval()
    frames = _frames(1, 2, 96, 160).expand(2, -1, -1, -1, -1)
    with torch.no_grad():
        out = model(frames, ["the big green star moving up", "the square left of the red circle"])
    assert not torch.allclose(out["pred_masks"][0], out["pred_masks"][1])
    assert not torch.allclose(out["text_recon"][0], out["text_recon"][1])


def test_switch_baseline_without_grounding(tiny_text_dir):
    base = tiny(tiny_text_dir)
    cfg = base.replace(grounding=dataclasses.replace(base.grounding, enabled=False),
                       head=dataclasses.replace(base.head, consensus_head=False,
                                                text_fusion=False))
    model = _model(cfg)
    assert model.grounding is None and model.vt_projection is None
    out = model(_frames(1, 2, 96, 160), CAPTIONS[:1])
    assert out["text_recon"] is None and out["pred_align"] is None
    assert out["text_embed"].shape == (1, 64)
    assert_layer_shapes(out, 1, 2, 5, 12, 20)


def test_switch_consensus_off(tiny_text_dir):
    model = _model(_with_head(tiny(tiny_text_dir), consensus_head=False))
    out = model(_frames(1, 2, 96, 160), CAPTIONS[:1])
    assert out["pred_align"] is None and out["text_recon"].shape == (1, 64)


def test_switch_text_fusion_off_uses_e_only(tiny_text_dir):
    model = _model(_with_head(tiny(tiny_text_dir), text_fusion=False)).eval()
    assert model.text_fusion is None
    e = torch.randn(1, 64)
    memory = torch.randn(2, 8, 64)
    shapes = torch.tensor([[2, 2], [1, 2], [1, 1], [1, 1]])
    hs_a, _ = model._decode(memory, shapes, e, torch.randn(1, 64), t=2)
    hs_b, _ = model._decode(memory, shapes, e, torch.randn(1, 64), t=2)
    torch.testing.assert_close(hs_a, hs_b)  # e' does not reach the queries
    fused = _model(tiny(tiny_text_dir)).eval()
    hs_c, _ = fused._decode(memory, shapes, e, torch.randn(1, 64), t=2)
    hs_d, _ = fused._decode(memory, shapes, e, torch.randn(1, 64), t=2)
    assert not torch.allclose(hs_c, hs_d)


@pytest.mark.parametrize("queries,stride,frames", [(3, 4, 1), (7, 8, 3)])
def test_switch_queries_mask_stride_window(tiny_text_dir, queries, stride, frames):
    cfg = _with_head(tiny(tiny_text_dir), num_queries=queries, mask_stride=stride)
    out = _model(cfg)(_frames(1, frames, 96, 160), CAPTIONS[:1])
    assert_layer_shapes(out, 1, frames, queries, 96 // stride, 160 // stride)


def test_invalid_switch_combinations():
    with pytest.raises(ValueError, match="grounding"):
        R2VOSConfig(grounding=GroundingConfig(enabled=False), head=HeadConfig(text_fusion=False))
    with pytest.raises(ValueError, match="grounding"):
        R2VOSConfig(grounding=GroundingConfig(enabled=False), head=HeadConfig(consensus_head=False))


def test_caption_count_must_match(tiny_text_dir):
    with pytest.raises(ValueError, match="captions"):
        _model(tiny(tiny_text_dir))(_frames(2, 1, 96, 160), CAPTIONS[:1])


def test_r50_forward_backward(tiny_text_dir):
    cfg = r50(tiny_text_dir)
    assert (cfg.backbone.name, cfg.transformer.hidden_dim, cfg.num_frames) == ("resnet50", 256, 5)
    assert (cfg.transformer.enc_layers, cfg.transformer.dec_layers) == (4, 4)
    assert cfg.input_size == (360, 640) and cfg.head.num_queries == 5
    model = _model(cfg)
    out = model(_frames(1, 2, 64, 96), CAPTIONS[:1])
    assert_layer_shapes(out, 1, 2, 5, 16, 24)  # stride-4 masks
    assert len(out["aux_outputs"]) == 3
    assert out["pred_align"].shape == (1,) and out["text_recon"].shape == (1, 256)
    loss = out["pred_masks"].mean() + out["pred_boxes"].mean() + out["pred_logits"].mean() \
        + out["pred_align"].sum() + (out["text_recon"] - out["text_embed"]).pow(2).mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert grads["backbone.body.layer4.2.conv3.weight"] is not None
    assert grads["grounding.kernel_fc.weight"] is not None
    assert grads["vt_projection.query"] is not None
    assert grads["mask_head.controller.layers.0.weight"] is not None
    assert not model.backbone.body.conv1.weight.requires_grad
    assert not any(p.requires_grad for p in model.text_encoder.language_model.parameters())


def test_build_model(tiny_text_dir):
    from reference_model.build import build_model
    from reference_model.criterion import SetCriterion
    from reference_model.postprocess import PostProcess

    model, criterion, post = build_model(tiny(tiny_text_dir))
    assert isinstance(model, R2VOS)
    assert isinstance(criterion, SetCriterion) and isinstance(post, PostProcess)
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
    with pytest.raises(ValueError, match="mask_stride"):
        R2VOSConfig(head=HeadConfig(mask_stride=2))
