"""Backbone: torchvision key compatibility, frozen BatchNorm, weight loading; sine positions."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from reference_model.backbone import Backbone, FrozenBatchNorm2d, ResNet
from reference_model.config import BackboneConfig
from reference_model.position_encoding import (
    position_encoding_like,
    sine_position_encoding_1d,
    sine_position_encoding_2d,
)

BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_keys(blocks: tuple[int, ...], convs_per_block: int) -> list[str]:
    """torchvision.models.resnetXX().state_dict() keys, written from its documented layout:
    conv1/bn1 stem, layer{1..4}.{j}.conv{i}/bn{i}, downsample.0 (conv) / .1 (bn) on the first
    block of each stage that changes shape, and fc."""
    keys = ["conv1.weight"] + [f"bn1.{k}" for k in BN_KEYS]
    for stage, n in enumerate(blocks, start=1):
        for j in range(n):
            p = f"layer{stage}.{j}"
            for i in range(1, convs_per_block + 1):
                keys += [f"{p}.conv{i}.weight"] + [f"{p}.bn{i}.{k}" for k in BN_KEYS]
            has_down = j == 0 and (convs_per_block == 3 or stage > 1)
            if has_down:
                keys += [f"{p}.downsample.0.weight"] + [f"{p}.downsample.1.{k}" for k in BN_KEYS]
    return keys + ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("name,blocks,convs,count", [
    ("resnet50", (3, 4, 6, 3), 3, 320),  # torchvision resnet50 state_dict has 320 entries
    ("resnet18", (2, 2, 2, 2), 2, 122),  # and resnet18 122
])
def test_state_dict_keys_match_torchvision(name, blocks, convs, count):
    net = ResNet(name, num_classes=1000, norm=nn.BatchNorm2d)
    keys = list(net.state_dict())
    expected = torchvision_keys(blocks, convs)
    assert len(expected) == count
    assert sorted(keys) == sorted(expected)


def test_resnet50_shapes_match_torchvision():
    sd = ResNet("resnet50", num_classes=1000, norm=nn.BatchNorm2d).state_dict()
    assert sd["conv1.weight"].shape == (64, 3, 7, 7)
    assert sd["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1)
    assert sd["layer2.0.conv2.weight"].shape == (128, 128, 3, 3)  # stride on the 3x3 (v1.5)
    assert sd["layer4.2.conv3.weight"].shape == (2048, 512, 1, 1)
    assert sd["layer4.2.bn3.running_var"].shape == (2048,)
    assert sd["fc.weight"].shape == (1000, 2048)
    net = ResNet("resnet50", num_classes=1000, norm=nn.BatchNorm2d)
    assert sum(p.numel() for p in net.parameters()) == 25_557_032  # torchvision's count


def _randomise_bn(net: nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen) * 0.1
            m.running_mean = torch.randn(n, generator=gen) * 0.1
            m.running_var = torch.rand(n, generator=gen) + 0.5
            m.num_batches_tracked.fill_(7)


def test_frozen_batchnorm_matches_batchnorm_eval():
    bn = nn.BatchNorm2d(6).eval()
    _randomise_bn(bn)
    frozen = FrozenBatchNorm2d(6)
    frozen.load_state_dict(bn.state_dict())  # num_batches_tracked is dropped, strictly
    assert "num_batches_tracked" not in frozen.state_dict()
    assert list(frozen.parameters()) == []
    x = torch.randn(2, 6, 5, 4)
    torch.testing.assert_close(frozen(x), bn(x))


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_resnet50_weights_round_trip(tmp_path, suffix):
    torch.manual_seed(0)
    reference = ResNet("resnet50", num_classes=1000, norm=nn.BatchNorm2d).eval()
    _randomise_bn(reference)
    path = tmp_path / f"resnet50{suffix}"
    state = reference.state_dict()
    if suffix == ".pth":
        torch.save(state, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    backbone = Backbone(BackboneConfig(name="resnet50", weights=str(path)))
    loaded = backbone.body.state_dict()
    assert len(loaded) == 320 - 53 - 2  # no num_batches_tracked, no fc
    torch.testing.assert_close(loaded["layer4.2.bn3.running_var"],
                               state["layer4.2.bn3.running_var"])
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        got = backbone(x)
        want = reference(x)
    for stride in (4, 8, 16, 32):
        torch.testing.assert_close(got[stride], want[stride], atol=1e-4, rtol=1e-4)


def test_loading_wrong_keys_fails(tmp_path):
    path = tmp_path / "bad.pth"
    state = ResNet("resnet18", norm=nn.BatchNorm2d).state_dict()
    state["layer1.0.conv9.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(RuntimeError, match="conv9"):
        Backbone(BackboneConfig(name="resnet18", weights=str(path)))


def test_backbone_strides_channels_and_trainable_layers():
    backbone = Backbone(BackboneConfig(name="resnet18", width=16, train_backbone=True))
    out = backbone(torch.randn(2, 3, 96, 160))
    assert {s: tuple(f.shape) for s, f in out.items()} == {
        4: (2, 16, 24, 40), 8: (2, 32, 12, 20), 16: (2, 64, 6, 10), 32: (2, 128, 3, 5)}
    assert backbone.num_channels == {4: 16, 8: 32, 16: 64, 32: 128}
    trainable = {n.split(".")[1] for n, p in backbone.named_parameters() if p.requires_grad}
    assert trainable == {"layer2", "layer3", "layer4"}
    frozen = Backbone(BackboneConfig(name="resnet18", width=16, train_backbone=False))
    assert not any(p.requires_grad for p in frozen.parameters())


def _hand_codes(coord: float, n: int) -> list[float]:
    """DETR's interleaved code of one coordinate: sin(c / 10000^(2 floor(i/2) / n)) on even
    channels i, cos on odd ones."""
    return [(math.sin if i % 2 == 0 else math.cos)(coord / 10000 ** (2 * (i // 2) / n))
            for i in range(n)]


def test_sine_position_encoding_2d_by_hand():
    # A 2x3 map, dim 8: channels 0-3 code y, 4-7 code x. With the release's 0.5 offset,
    # row i sits at (i + 0.5) / 2 * 2 pi and column j at (j + 0.5) / 3 * 2 pi.
    pos = sine_position_encoding_2d(torch.zeros(1, 2, 3, dtype=torch.bool), 8)
    assert pos.shape == (1, 8, 2, 3)
    for i in range(2):
        for j in range(3):
            y, x = (i + 0.5) / 2 * 2 * math.pi, (j + 0.5) / 3 * 2 * math.pi
            want = torch.tensor(_hand_codes(y, 4) + _hand_codes(x, 4))
            torch.testing.assert_close(pos[0, :, i, j], want, atol=1e-5, rtol=0)
    # the first row is at a quarter turn: sin = 1, cos = 0 (DETR without the offset: pi)
    torch.testing.assert_close(pos[0, :2, 0, 0], torch.tensor([1.0, 0.0]), atol=1e-6, rtol=0)


def test_sine_position_encoding_2d_layout_and_padding():
    pos = position_encoding_like(torch.zeros(2, 1, 3, 5), 16)
    assert pos.shape == (1, 16, 3, 5)  # one copy broadcasts over the batch
    assert pos.abs().max() <= 1.0
    # first half codes y only, second half x only
    assert torch.equal(pos[:, :8], pos[:, :8, :, :1].expand(-1, -1, -1, 5))
    assert torch.equal(pos[:, 8:], pos[:, 8:, :1, :].expand(-1, -1, 3, -1))
    # padding at the bottom / right: the real pixels get the codes of the unpadded map
    mask = torch.zeros(1, 4, 7, dtype=torch.bool)
    mask[:, 3:] = True
    mask[:, :, 5:] = True
    padded = sine_position_encoding_2d(mask, 16)
    torch.testing.assert_close(padded[:, :, :3, :5], pos, atol=1e-6, rtol=0)
    assert position_encoding_like(torch.zeros(1, 1, 3, 5, dtype=torch.float64), 16).dtype \
        == torch.float64
    with pytest.raises(ValueError, match="multiple of 4"):
        position_encoding_like(torch.zeros(1, 1, 3, 5), 6)


def test_sine_position_encoding_1d_by_hand_and_padding():
    # 2 real tokens, dim 4: token k sits at k / 2 * 2 pi (no offset along the sentence)
    pos = sine_position_encoding_1d(torch.zeros(1, 2, dtype=torch.bool), 4)
    assert pos.shape == (1, 2, 4)
    for k in range(2):
        want = torch.tensor(_hand_codes((k + 1) / 2 * 2 * math.pi, 4))
        torch.testing.assert_close(pos[0, k], want, atol=1e-5, rtol=0)
    # a batch of captions of 3 and 6 tokens padded to 6: real tokens keep their codes
    mask = torch.tensor([[False] * 3 + [True] * 3, [False] * 6])
    batch = sine_position_encoding_1d(mask, 8)
    alone = sine_position_encoding_1d(torch.zeros(1, 3, dtype=torch.bool), 8)
    torch.testing.assert_close(batch[0, :3], alone[0], atol=1e-6, rtol=0)
    assert not torch.allclose(batch[1, :3], alone[0])  # normalised by the caption's length
    # the last real token sits at 2 pi whatever the length: sin 0, cos 1 on channels 0, 1
    for b, last in ((0, 2), (1, 5)):
        torch.testing.assert_close(batch[b, last, :2], torch.tensor([0.0, 1.0]), atol=1e-5,
                                   rtol=0)
