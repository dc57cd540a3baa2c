"""One training step of this package equals one of the authors' released code.

The fixture in tests/data/release_r2vos/train was made by running lxa9867/R2VOS unmodified
(tests/support/make_release_train_fixture.py): the released training flags with
``--add_negative``, seeded weights (regenerated here from the stored seed and key list),
3 clips of 3 frames, one per gloo process as released, each paired by the release with the
caption of the next process's clip; train mode with dropout off; the release's matcher,
``SetCriterion``, backward under DDP, gradient clipping and one AdamW step with ``main.py``'s
parameter groups; in float64, so that float32 rounding (3e-4 of a ResNet-50 gradient's norm
between float32 and float64 of the same code, 1e-3 where a pre-activation rounds to the
other side of a ReLU) cannot hide a difference of that size.

Here the same 3 clips run as one batch in one process through ``train_step`` (the step of
``r2bench train``). Two things we do on purpose differently are isolated: negatives are fed
as the release pairs them (clip r with caption (r + 1) mod 3; ``r2bench train`` draws them by
the builder's unrelatedness rule) and no augmentation runs (the release's flip replaces
substrings, ours whole words). The release's per-process numbers relate to ours as follows:
a process's loss depends on its own clip's outputs only and DDP averages the processes'
gradients, so its terms averaged over the processes are ours, and 1/3 of its gradient at its
outputs is ours at that clip's outputs.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from release_weights import matcher_trials, release_weights

from reference_model.checkpoint import (
    check_state,
    convert_release_state_dict,
    infer_release_config,
    model_shapes,
    release_key,
)
from reference_model.criterion import SetCriterion
from reference_model.losses import pointwise_distance_loss
from reference_model.matcher import HungarianMatcher, MatcherConfig
from reference_model.model import R2VOS
from reference_model.text_encoder import language_model_arch
from reference_model.training.config import OptimConfig
from reference_model.training.dataset import collate_pairs
from reference_model.training.loop import PairForward, train_step
from reference_model.training.optim import build_optimizer, group_of

DATA = Path(__file__).parents[1] / "data" / "release_r2vos"
TRAIN = DATA / "train"
TERM_RTOL = 1e-5  # loss terms
GRAD_RTOL = 1e-4  # gradients, of the tensor's norm
# weights after the step (learning rates 1e-4 and 5e-5): entries whose gradient is at the
# rounding level move by up to lr * g / eps, about 3e-8 here
WEIGHT_ATOL = 2e-7
GROUPS = {"default": "default", "backbone": "backbone", "text_encoder": "text_encoder",
          "linear_proj": "linear_proj"}  # the release's group -> ours ("anchor" is empty)


@pytest.fixture(scope="module")
def meta() -> dict:
    return json.loads((TRAIN / "meta.json").read_text())


@pytest.fixture(scope="module")
def ref(meta) -> dict[str, np.ndarray]:
    with np.load(TRAIN / "tensors.npz") as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def release_state(meta) -> dict[str, torch.Tensor]:
    state = release_weights([(k, s) for k, s in meta["keys"]], meta["seed"])
    state.update({alias: state[src] for alias, src in meta["aliases"].items()})
    return state


def build(meta, release_state, **criterion_changes) -> tuple[R2VOS, SetCriterion]:
    """The fixture's model in train mode, every dropout 0, with the fixture's margin."""
    text_dir = str(DATA / "text_encoder")
    state = convert_release_state_dict(release_state)
    cfg = infer_release_config(state, language_model_arch(text_dir))
    cfg = cfg.replace(
        text_encoder=replace(cfg.text_encoder, path=text_dir, freeze=True, dropout=0.0),
        transformer=replace(cfg.transformer, dropout=0.0),
        grounding=replace(cfg.grounding, dropout=0.0),
        vt_projection=replace(cfg.vt_projection, dropout=0.0),
        num_frames=meta["frames"],
        criterion=replace(cfg.criterion, contrastive_margin=meta["contra_margin"],
                          **criterion_changes))
    torch.manual_seed(0)
    net = R2VOS(cfg, pretrained_text=False)
    check_state(state, model_shapes(net))
    net.load_state_dict(state, strict=False)
    net = net.to(getattr(torch, meta["dtype"])).train()
    return net, SetCriterion(cfg.criterion, HungarianMatcher(cfg.matcher))


def fixture_batch(meta, ref):
    """The 3 clips, each with its caption and, as negative, the next clip's caption."""
    captions = meta["captions"]
    items = [{"frames": torch.from_numpy(ref[f"clip{c}/frames"]),
              "caption": captions[c],
              "boxes": torch.from_numpy(ref[f"clip{c}/boxes"]),
              "masks": torch.from_numpy(ref[f"clip{c}/masks"]),
              "valid": torch.from_numpy(ref[f"clip{c}/valid"]).bool(),
              "negatives": [captions[n]]}
             for c, n in enumerate(meta["negative_of_clip"])]
    return collate_pairs(items)


class Widened(PairForward):
    """PairForward on frames normalised in float32 (as the release's), then widened to the
    model's dtype."""

    def forward(self, frames, clip_of_pair, captions):
        return super().forward(frames.to(self.model.level_embed.dtype), clip_of_pair, captions)


class Recorder(torch.nn.Module):
    """The criterion, recording the matcher's indices, the outputs (their gradients
    retained) and the gradient of each relational term at e'."""

    def __init__(self, criterion: SetCriterion):
        super().__init__()
        self.criterion = criterion
        self.indices: list = []
        criterion.matcher.register_forward_hook(lambda m, i, o: self.indices.append(o))
        self.outputs: dict = {}
        self.term_grads: dict[str, torch.Tensor] = {}

    def forward(self, outputs: dict, targets: list[dict]) -> dict:
        for layer in [outputs] + outputs["aux_outputs"]:
            for v in layer.values():
                if isinstance(v, torch.Tensor) and v.requires_grad:
                    v.retain_grad()
        self.outputs = outputs
        losses = self.criterion(outputs, targets)
        for k in ("loss_cycle_dist", "loss_cycle_angle"):
            self.term_grads[k] = torch.autograd.grad(losses[k], outputs["text_recon"],
                                                     retain_graph=True)[0]
        return losses


@pytest.fixture(scope="module")
def step(meta, ref, release_state):
    """Our step on the fixture batch: what the comparison needs."""
    model, criterion = build(meta, release_state)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = build_optimizer(model, OptimConfig())
    rec = Recorder(criterion)
    batch = fixture_batch(meta, ref)
    losses, norm = train_step(Widened(model), rec, optimizer, batch, torch.device("cpu"),
                              meta["clip_max_norm"])
    coef = min(1.0, meta["clip_max_norm"] / (norm + 1e-6))  # clip_grad_norm_'s factor
    grads = {n: p.grad / coef for n, p in model.named_parameters() if p.grad is not None}
    deltas = {n: p.detach() - before[n] for n, p in model.named_parameters()}
    mse = pointwise_distance_loss(rec.outputs["text_recon"][:3], rec.outputs["text_embed"][:3])
    return {"model": model, "optimizer": optimizer, "losses": losses, "norm": norm,
            "grads": grads, "deltas": deltas, "rec": rec, "criterion": criterion,
            "mse": mse.detach()}


def mean_over_ranks(ref, meta, key: str) -> float:
    return float(np.mean([ref[f"rank{r}/{key}"] for r in range(meta["world_size"])]))


def summarise(name: str, x: torch.Tensor, meta) -> np.ndarray:
    """make_release_train_fixture.summarise: norm, sum, projections, sampled entries."""
    flat = x.detach().double().flatten()
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    proj = torch.randn(meta["projections"], flat.numel(), generator=g, dtype=torch.float64)
    idx = torch.randint(flat.numel(), (meta["samples"],), generator=g)
    return torch.cat([flat.norm()[None], flat.sum()[None], proj @ flat, flat[idx]]).numpy()


def difference(name: str, ours: torch.Tensor, stored: np.ndarray, meta) -> tuple[float, float]:
    """(||ours - release||, ||release||), exactly for whole tensors, estimated from the
    summary's projections otherwise (each moves by a standard normal times the difference's
    norm; the root mean square of their changes estimates it)."""
    if ours.numel() <= meta["full_numel"]:
        ref = torch.from_numpy(stored).double()
        assert tuple(ours.shape) == tuple(ref.shape), name
        return float((ours.double() - ref).norm()), float(ref.norm())
    mine = summarise(name, ours, meta)
    k = meta["projections"]
    proj = mine[2:2 + k] - stored[2:2 + k]
    return float(np.sqrt(np.mean(proj ** 2))), float(stored[0])


def test_fixture_is_the_release_layout(meta, ref):
    # one clip per process, negatives paired with the next process's caption, a frame
    # without the object, the matcher's indices for both decoder layers on every process
    w = meta["world_size"]
    assert w == 3 and meta["negative_of_clip"] == [1, 2, 0]
    assert "--add_negative" in meta["flags"] and "--neg_cls" in meta["flags"]
    c, t = meta["absent"]
    assert ref[f"clip{c}/valid"][t] == 0 and ref[f"clip{c}/masks"][t].sum() == 0
    for r in range(w):
        assert {k for k in ref if k.startswith(f"rank{r}/indices/")} == {
            f"rank{r}/indices/0", f"rank{r}/indices/1"}
    # the margin term is inside the margin for one process and clamped to 0 for the others:
    # the release clamps per clip (a clamp of the mean would give 0)
    contra = [float(ref[f"rank{r}/loss/loss_cycle_contrastive"][0]) for r in range(w)]
    assert sorted(c > 0 for c in contra) == [False, False, True]


@pytest.mark.slow
def test_tokenizer_gives_the_release_token_ids(meta, step):
    tokenizer = step["model"].text_encoder.tokenizer
    for caption, ids in meta["token_ids"].items():
        assert tokenizer([caption])["input_ids"][0] == ids


@pytest.mark.slow
def test_matcher_indices_equal_the_release(meta, ref, step):
    # our criterion matches the last layer, then every earlier one, like the release
    w, indices = meta["world_size"], step["rec"].indices
    layers = [1, 0]
    assert len(indices) == len(layers)
    for layer, found in zip(layers, indices):
        for r in range(w):
            query, target = found[r]
            want = ref[f"rank{r}/indices/{layer}"]
            assert [int(query[0]), int(target[0])] == want[:, 0].tolist(), (layer, r)
        assert all(len(found[w + r][0]) == 0 for r in range(w))  # negatives: no match


def test_matcher_alone_equals_the_release_on_random_predictions(meta, ref):
    # predictions whose scales vary, so that each cost term decides some of the matches
    n, seed = meta["matcher_trials"]
    clips = [{k: ref[f"clip{c}/{k}"] for k in ("boxes", "masks", "valid")}
             for c in range(meta["world_size"])]
    matcher = HungarianMatcher(MatcherConfig())
    for i, trial in enumerate(matcher_trials(clips, n, seed)):
        clip = clips[i % len(clips)]
        target = {"positive": True, "boxes": torch.from_numpy(clip["boxes"]),
                  "masks": torch.from_numpy(clip["masks"]),
                  "valid": torch.from_numpy(clip["valid"]).bool()}
        (query, _), = matcher(trial, [target])
        assert query.tolist() == ref[f"rank0/trial_indices/{i}"].tolist(), f"trial {i}"


@pytest.mark.slow
def test_every_loss_term_equals_the_release(meta, ref, step):
    weights = meta["weight_dict"]
    losses, crit = step["losses"], step["criterion"]
    names = sorted(k[len("rank0/loss/"):] for k in ref if k.startswith("rank0/loss/"))
    assert len(names) == 15 and set(losses) - {"loss"} <= set(names)
    for name in names:
        want = mean_over_ranks(ref, meta, f"loss/{name}")
        if name == "loss_cycle_mse":  # computed with weight 0 by the release
            assert weights[name] == 0
            assert float(step["mse"]) == pytest.approx(want, rel=TERM_RTOL)
            continue
        got = float(losses[name]) / crit.weight_of(name)
        assert crit.weight_of(name) == weights[name], name
        assert got == pytest.approx(want, rel=TERM_RTOL), f"{name} unweighted"
        assert float(losses[name]) == pytest.approx(want * weights[name], rel=TERM_RTOL), name
    assert float(losses["loss"]) == pytest.approx(mean_over_ranks(ref, meta, "total"),
                                                  rel=TERM_RTOL)


def _assert_grad(ours: torch.Tensor, ref: np.ndarray, what: str) -> None:
    ref_t = torch.from_numpy(np.asarray(ref)).double()
    ours = ours.detach().double().reshape(ref_t.shape)
    err, scale = float((ours - ref_t).norm()), float(ref_t.norm())
    assert scale > 0 and err <= GRAD_RTOL * scale, f"{what}: error {err:.3g} of {scale:.3g}"


@pytest.mark.slow
def test_gradients_at_the_outputs_equal_the_release(meta, ref, step):
    # 1/W of a process's gradient at its clip's outputs is ours at that clip's outputs
    w, out = meta["world_size"], step["rec"].outputs
    layers = out["aux_outputs"] + [out]
    for r in range(w):
        def want(key, _r=r):
            return ref[f"rank{_r}/dtotal/{key}"] / w

        _assert_grad(out["text_recon"].grad[r], want("recon")[0], f"e' of clip {r}")
        _assert_grad(out["text_recon"].grad[w + r], want("neg_recon")[0],
                     f"e' of clip {r} with the next clip's caption")
        _assert_grad(out["text_embed"].grad[r], want("sentence"), f"e of clip {r}")
        _assert_grad(out["pred_pair"].grad[[r, w + r]], want("pair_logits"),
                     f"pair logits of clip {r}")
        for i, layer in enumerate(layers):
            for key in ("pred_logits", "pred_boxes", "pred_masks"):
                _assert_grad(layer[key].grad[r], want(f"{key}{i}"), f"{key} {i} clip {r}")


@pytest.mark.slow
def test_relational_gradient_is_the_release_one_clip_per_process(meta, ref, step):
    # the release's relational gradient reaches each clip's e' from its own process only,
    # then DDP divides by W: 1/W of the full gradient (relational_gradient="release")
    w, term_grads = meta["world_size"], step["rec"].term_grads
    for name, grad in term_grads.items():
        for r in range(w):
            _assert_grad(grad[r], ref[f"rank{r}/dloss/{name}/recon"][0] / w, f"{name} {r}")
        assert grad[w:].abs().sum() == 0  # negatives are not in the relational terms


@pytest.mark.slow
def test_parameter_gradients_of_every_group_equal_the_release(meta, ref, step):
    grads, groups = step["grads"], meta["groups"]
    assert step["norm"] == pytest.approx(float(ref["rank0/grad_norm"][0]), rel=GRAD_RTOL)
    ours_trainable = {n for n, p in step["model"].named_parameters() if p.requires_grad}
    mapped = {release_key(n): n for n in groups}
    assert set(mapped) == ours_trainable  # the same parameters train
    worst: dict[str, float] = {}
    for name, group in groups.items():
        ours = mapped_name = release_key(name)
        assert group_of(mapped_name) == GROUPS[group], name  # the same group
        err, scale = difference(f"grad/{name}", grads[ours], ref[f"grad/{name}"], meta)
        assert scale > 0, name
        worst[group] = max(worst.get(group, 0.0), err / scale)
        assert err <= GRAD_RTOL * scale, f"{name}: gradient off by {err / scale:.2e}"
    assert set(worst) == {"default", "backbone", "linear_proj"}


@pytest.mark.slow
def test_weights_after_one_adamw_step_equal_the_release(meta, ref, step):
    lrs = {g["name"]: g["lr"] for g in step["optimizer"].param_groups}
    for group, lr in meta["group_lrs"].items():
        if group in lrs:
            assert lrs[group] == pytest.approx(lr), group
    for g in step["optimizer"].param_groups:  # weight decay moves a weight by 5e-8 only
        for key, value in meta["adamw"].items():
            assert g[key] == (tuple(value) if isinstance(value, list) else value), key
    deltas = step["deltas"]
    for name in meta["groups"]:
        ours = deltas[release_key(name)]
        stored = ref[f"delta/{name}"]
        if ours.numel() <= meta["full_numel"]:
            err = float((ours.double() - torch.from_numpy(stored).double()).abs().max())
            assert err <= WEIGHT_ATOL, f"{name}: weight off by {err:.2e} after the step"
        else:  # the root mean square difference per entry, estimated from the projections
            rms, _ = difference(f"delta/{name}", ours, stored, meta)
            assert rms / math.sqrt(ours.numel()) <= WEIGHT_ATOL, name
            assert float(ours.double().norm()) == pytest.approx(float(stored[0]), rel=1e-3)


