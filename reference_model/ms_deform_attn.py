"""Multi-scale deformable attention (Deformable DETR, Zhu et al. 2021) in pure PyTorch.

Semantics follow Deformable DETR's ``MSDeformAttn``: each query predicts, per head, level and
point, a sampling offset and an attention weight (softmax over levels x points); values are
bilinearly sampled with ``grid_sample(align_corners=False, padding_mode="zeros")`` at
``reference point + offset / (W_l, H_l)`` (2-d references) or
``center + offset / n_points * wh / 2`` (box references). Coordinates are normalised to [0, 1].

Two implementations of the sampling core compute the same sum:

- :func:`ms_deform_attn_grid_sample`, the plain one (Deformable DETR's PyTorch fallback):
  one ``grid_sample`` per level, then the weighted sum over levels and points. It
  materialises every sample of every channel, [N*M, D, Lq, L*P], before reducing it.
- :func:`ms_deform_attn_gather`: bilinear sampling is linear in the values, so the output of
  a query and head is a weighted sum of at most 4 L P value rows, the weight of a row being
  the attention weight times the bilinear weight of that corner (zero for a corner outside
  the level, which is ``padding_mode="zeros"``). The rows and weights are computed once per
  point, not per channel, and one ``embedding_bag(mode="sum")`` gathers and sums them,
  writing [N, Lq, M*D] directly. On CPU it takes about half the time of the plain one
  (docs/profile.md) and a quarter of its memory; it differs from it by float rounding only.

:func:`ms_deform_attn_core` uses the gather form on CPU and the plain one elsewhere (on GPU
``grid_sample`` is a single fused kernel; ``scripts/gpu_profile.sh`` times both there).

Legend: N batch, Lq queries, S = sum_l H_l W_l value tokens, M heads, D = C / M,
L levels, P points.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SAMPLE_BUDGET = 512 * 2**20  # bytes of sampled values held at once by one attention call


def ms_deform_attn_core(value: Tensor, spatial_shapes: Tensor, sampling_locations: Tensor,
                        attention_weights: Tensor) -> Tensor:
    """Sample and weight the values.

    value: [N, S, M, D]; spatial_shapes: [L, 2] (H_l, W_l) long;
    sampling_locations: [N, Lq, M, L, P, 2] normalised (x, y);
    attention_weights: [N, Lq, M, L, P] -> [N, Lq, M * D].
    """
    core = ms_deform_attn_gather if value.device.type == "cpu" else ms_deform_attn_grid_sample
    return core(value, spatial_shapes, sampling_locations, attention_weights)


def ms_deform_attn_grid_sample(value: Tensor, spatial_shapes: Tensor,
                               sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
    """:func:`ms_deform_attn_core` with one ``grid_sample`` per level (the plain form)."""
    n, _, m, d = value.shape
    _, lq, _, nl, p, _ = sampling_locations.shape
    sizes = [int(h) * int(w) for h, w in spatial_shapes.tolist()]
    values = value.split(sizes, dim=1)
    grids = 2 * sampling_locations - 1  # grid_sample wants [-1, 1]
    sampled = []
    for lvl, (h, w) in enumerate(spatial_shapes.tolist()):
        v = values[lvl].flatten(2).transpose(1, 2).reshape(n * m, d, h, w)  # [N*M, D, H, W]
        g = grids[:, :, :, lvl].transpose(1, 2).flatten(0, 1)  # [N*M, Lq, P, 2]
        sampled.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros",
                                     align_corners=False))  # [N*M, D, Lq, P]
    w = attention_weights.transpose(1, 2).reshape(n * m, 1, lq, nl * p)  # [N*M, 1, Lq, L*P]
    out = (torch.stack(sampled, dim=-2).flatten(-2) * w).sum(-1)  # [N*M, D, Lq]
    return out.view(n, m * d, lq).transpose(1, 2).contiguous()  # [N, Lq, M*D]


def _axis_corners(coord: Tensor, size: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Bilinear neighbours along one axis: coord [B, L*P] normalised, size [L*P] (the level's
    width or height per point) -> indices i0 and i1 = i0 + 1 clamped into the level, and
    their weights w0, w1 (zero for a neighbour outside the level)."""
    pix = coord * size - 0.5  # pixel centres sit at integers (align_corners=False)
    i0 = pix.floor()
    w1 = pix - i0
    w0 = (1 - w1) * ((i0 >= 0) & (i0 < size))
    w1 = w1 * ((i0 >= -1) & (i0 < size - 1))
    last = size - 1
    return (i0.clamp(min=0).minimum(last).long(), (i0 + 1).clamp(min=0).minimum(last).long(),
            w0, w1)


def _corner_rows(spatial_shapes: Tensor, sampling_locations: Tensor,
                 attention_weights: Tensor, s: int) -> tuple[Tensor, Tensor]:
    """Rows of ``value.view(N*S*M, D)`` at the 4 bilinear corners of every point and their
    weights (attention x bilinear): [N*Lq*M, 4 * L*P] each, one bag per query and head.
    A corner outside its level gets weight 0 and a valid row.

    Everything is laid out [N*Lq*M, L*P] with per-level constants as [L*P] vectors, so each
    operation runs over contiguous rows of L*P values.
    """
    n, lq, m, nl, p, _ = sampling_locations.shape
    dev, dtype = sampling_locations.device, sampling_locations.dtype
    hw = spatial_shapes.to(dev).repeat_interleave(p, 0)  # [L*P, 2] (H_l, W_l) per point
    loc = sampling_locations.reshape(n * lq * m, nl * p, 2)
    x0, x1, wx0, wx1 = _axis_corners(loc[..., 0], hw[:, 1].to(dtype))
    y0, y1, wy0, wy1 = _axis_corners(loc[..., 1], hw[:, 0].to(dtype))
    attn = attention_weights.reshape(n * lq * m, nl * p)
    wy0, wy1 = wy0 * attn, wy1 * attn
    sizes = spatial_shapes.to(dev).prod(-1)
    start = (sizes.cumsum(0) - sizes).repeat_interleave(p, 0)  # [L*P] first token of the level
    # row of token (n, start_l + y W_l + x) and head h: (n S + start_l + y W_l + x) M + h
    nh = (torch.arange(n, device=dev)[:, None] * (s * m) + torch.arange(m, device=dev))
    base = nh[:, None, :].expand(n, lq, m).reshape(-1, 1) + start * m  # [N*Lq*M, L*P]
    ry0 = base + y0 * (hw[:, 1] * m)
    ry1 = base + y1 * (hw[:, 1] * m)
    x0, x1 = x0 * m, x1 * m
    rows = torch.cat((ry0 + x0, ry0 + x1, ry1 + x0, ry1 + x1), 1)
    weights = torch.cat((wy0 * wx0, wy0 * wx1, wy1 * wx0, wy1 * wx1), 1)
    return rows, weights


def ms_deform_attn_gather(value: Tensor, spatial_shapes: Tensor, sampling_locations: Tensor,
                          attention_weights: Tensor) -> Tensor:
    """:func:`ms_deform_attn_core` as one weighted gather of value rows (``embedding_bag``)."""
    n, s, m, d = value.shape
    lq = sampling_locations.shape[1]
    rows, weights = _corner_rows(spatial_shapes, sampling_locations, attention_weights, s)
    table = value.reshape(n * s * m, d).to(weights.dtype)  # [N*S*M, D], row (n, s, h)
    out = F.embedding_bag(rows, table, per_sample_weights=weights, mode="sum")
    return out.view(n, lq, m * d)  # bags run over (n, q, h): already [N, Lq, M*D]


class MSDeformAttn(nn.Module):
    """Multi-scale deformable attention module with Deformable DETR's parameterisation."""

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8,
                 n_points: int = 4):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} not divisible by n_heads {n_heads}")
        self.d_model, self.n_levels, self.n_heads, self.n_points = d_model, n_levels, n_heads, \
            n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # initial offsets point in M evenly spaced directions, 1..P steps away
        nn.init.zeros_(self.sampling_offsets.weight)
        theta = torch.arange(self.n_heads, dtype=torch.float32) * (2 * math.pi / self.n_heads)
        grid = torch.stack([theta.cos(), theta.sin()], -1)  # [M, 2]
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.n_heads, 1, 1, 2).repeat(1, self.n_levels, self.n_points, 1)
        grid = grid * torch.arange(1, self.n_points + 1, dtype=torch.float32).view(1, 1, -1, 1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(grid.flatten())
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for lin in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)

    def sampling(self, query: Tensor, reference_points: Tensor,
                 spatial_shapes: Tensor) -> tuple[Tensor, Tensor]:
        """Sampling locations [N, Lq, M, L, P, 2] and weights [N, Lq, M, L, P] of each query."""
        n, lq, _ = query.shape
        m, nl, p = self.n_heads, self.n_levels, self.n_points
        offsets = self.sampling_offsets(query).view(n, lq, m, nl, p, 2)
        weights = self.attention_weights(query).view(n, lq, m, nl * p).softmax(-1)
        weights = weights.view(n, lq, m, nl, p)
        if reference_points.shape[-1] == 2:
            normalizer = spatial_shapes.flip(-1).to(query.dtype)  # [L, 2] as (W, H)
            loc = reference_points[:, :, None, :, None, :] \
                + offsets / normalizer[None, None, None, :, None, :]
        elif reference_points.shape[-1] == 4:
            ref = reference_points[:, :, None, :, None, :]  # [N, Lq, 1, L, 1, 4]
            loc = ref[..., :2] + offsets / p * ref[..., 2:] * 0.5
        else:
            raise ValueError(f"reference_points last dim must be 2 or 4, "
                             f"got {reference_points.shape[-1]}")
        return loc, weights

    def forward(self, query: Tensor, reference_points: Tensor, value: Tensor,
                spatial_shapes: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """query: [N, Lq, C]; reference_points: [N, Lq, L, 2 or 4] normalised;
        value: [N, S, C]; spatial_shapes: [L, 2]; padding_mask: [N, S] True on padding
        -> [N, Lq, C]."""
        n, s, _ = value.shape
        if int((spatial_shapes[:, 0] * spatial_shapes[:, 1]).sum()) != s:
            raise ValueError("spatial_shapes do not match the number of value tokens")
        v = self.value_proj(value)
        if padding_mask is not None:
            v = v.masked_fill(padding_mask[..., None], 0.0)
        v = v.view(n, s, self.n_heads, self.d_model // self.n_heads)  # [N, S, M, D]
        loc, weights = self.sampling(query, reference_points, spatial_shapes)
        # The core materialises per-point samples for all queries at once (grid_sample:
        # [N*M, D, Lq, L*P] twice; gather: corner rows and weights): queries are independent,
        # so they run in chunks sized to keep the grid_sample form under SAMPLE_BUDGET bytes.
        per_query = 2 * n * self.d_model * self.n_levels * self.n_points * v.element_size()
        chunk = max(1, SAMPLE_BUDGET // per_query)
        out = torch.cat([ms_deform_attn_core(v, spatial_shapes, loc[:, i:i + chunk],
                                             weights[:, i:i + chunk])
                         for i in range(0, loc.shape[1], chunk)], 1)
        return self.output_proj(out)
