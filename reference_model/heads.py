"""Dynamic mask head (CondInst-style, as in ReferFormer and the R2-VOS release).

Each instance embedding z is mapped by the controller MLP to the parameters of a stack of
1x1 convolutions, applied to the mask features (stride 4) concatenated with the coordinates
of every pixel relative to the query's reference point:

- relative coordinates are in input pixels: (ref_x * W - x, ref_y * H - y) with pixel
  centres x = 4 j + 2, y = 4 i + 2 (the release's ``compute_locations`` at stride 4);
- the controller's output lists *all* layers' weights first, then all biases; each layer's
  weight is [out, in] row-major (the release's ``parse_dynamic_params``);
- ReLU between layers, none after the last, which has one output channel: one mask logit map
  per query, M_t = w_t^T f_out,t.

Legend: N = B*T frames, Q queries, C channels, D = mask_dim, h x w mask size (stride 4),
H x W input size.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import HeadConfig
from .layers import MLP

MASK_STRIDE = 4


def relative_coordinates(reference: Tensor, h: int, w: int, image_size: tuple[int, int],
                         stride: int = MASK_STRIDE) -> Tensor:
    """reference [N, Q, 2] normalised (x, y) -> [N, Q, 2, h, w] offsets in input pixels."""
    img_h, img_w = image_size
    ref = reference * reference.new_tensor([img_w, img_h])  # [N, Q, 2] in pixels
    xs = torch.arange(0, w * stride, stride, dtype=torch.float32, device=ref.device) + stride // 2
    ys = torch.arange(0, h * stride, stride, dtype=torch.float32, device=ref.device) + stride // 2
    rel_x = ref[..., 0, None, None] - xs.to(ref.dtype)[None, None, None, :]  # [N, Q, 1, w]
    rel_y = ref[..., 1, None, None] - ys.to(ref.dtype)[None, None, :, None]  # [N, Q, h, 1]
    return torch.stack(torch.broadcast_tensors(rel_x, rel_y), 2)  # [N, Q, 2, h, w]


class DynamicMaskHead(nn.Module):
    """``forward(z [N, Q, C], reference [N, Q, 2], f_out [N, D, h, w], image_size (H, W))
    -> mask logits [N, Q, h, w]``."""

    def __init__(self, cfg: HeadConfig, d_model: int):
        super().__init__()
        cin = cfg.mask_dim + (2 if cfg.rel_coord else 0)
        hidden = [cfg.dynamic_channels] * (cfg.controller_layers - 1)
        self.dims = [cin] + hidden + [1]
        self.rel_coord = cfg.rel_coord
        self.weight_nums = [a * b for a, b in itertools.pairwise(self.dims)]
        self.bias_nums = self.dims[1:]
        self.controller = MLP(d_model, d_model, sum(self.weight_nums) + sum(self.bias_nums), 3)
        for layer in self.controller.layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, z: Tensor, reference: Tensor, f_out: Tensor,
                image_size: tuple[int, int]) -> Tensor:
        n, q, _ = z.shape
        d, h, w = f_out.shape[-3:]
        params = self.controller(z)  # [N, Q, P]
        splits = params.split(self.weight_nums + self.bias_nums, dim=-1)
        weights, biases = splits[:len(self.weight_nums)], splits[len(self.weight_nums):]
        weights = [wt.view(n, q, cout, cin) for wt, cin, cout in
                   zip(weights, self.dims[:-1], self.dims[1:])]  # [N, Q, out, in]
        # First layer on the shared features without repeating them per query:
        # W [f; rel] = W_f f + W_rel rel.
        x = torch.einsum("nqoc,ncs->nqos", weights[0][..., :d], f_out.flatten(2))
        if self.rel_coord:
            rel = relative_coordinates(reference, h, w, image_size).to(x.dtype).flatten(3)
            x = x + torch.einsum("nqoc,nqcs->nqos", weights[0][..., d:], rel)
        x = x + biases[0][..., None]  # [N, Q, out, h*w]
        for weight, bias in zip(weights[1:], biases[1:]):
            x = torch.einsum("nqoi,nqis->nqos", weight, F.relu(x)) + bias[..., None]
        return x.view(n, q, h, w)
