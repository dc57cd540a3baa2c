"""Collectives the training objective needs when it runs in several processes (DDP).

Without an initialised process group every function is the identity of one process, so the
criterion reads the same with one process or many.

- :func:`sum_over_processes`: the release's ``num_boxes`` normalisation sums the visible
  frames of every process.
- :func:`gather_with_grad`: the relational cycle terms compare every positive pair of the
  *global* batch, as the release's all-gather does. The backward sums the gradients that
  every process's (identical) loss sends to this process's rows; DDP then averages over the
  processes, so the update equals the one-process update on the global batch. (The release
  keeps the gathered rows of other processes constant, which leaves its relational
  gradients 1/world_size of that; the criterion reproduces this scale on purpose, by the
  clips per step rather than the process count: ``CriterionConfig.relational_gradient``.)

Legend: N rows of this process, N_r rows of process r.
"""

from __future__ import annotations

import torch
from torch import Tensor


def world() -> tuple[int, int]:
    """(rank, world_size) of the default process group; (0, 1) without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def sum_over_processes(value: float, device: torch.device | str = "cpu") -> float:
    """The sum of ``value`` over all processes (``value`` itself with one process)."""
    import torch.distributed as dist

    if world()[1] == 1:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item())


class _GatherRows(torch.autograd.Function):
    """Concatenate every process's rows; backward: all-reduce, keep this process's rows."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        import torch.distributed as dist

        rank, size = world()
        counts = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(size)]
        dist.all_gather(counts, torch.tensor([len(x)], dtype=torch.long, device=x.device))
        counts = [int(c) for c in counts]
        longest = max(counts)
        padded = x.new_zeros((longest, *x.shape[1:]))
        padded[:len(x)] = x
        parts = [torch.empty_like(padded) for _ in range(size)]
        dist.all_gather(parts, padded.contiguous())
        ctx.rank, ctx.counts, ctx.longest = rank, counts, longest
        return torch.cat([p[:n] for p, n in zip(parts, counts)])  # [sum N_r, ...]

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        start = sum(ctx.counts[:ctx.rank])
        return grad[start:start + ctx.counts[ctx.rank]]


def gather_with_grad(x: Tensor) -> Tensor:
    """[N, ...] rows of this process -> [sum N_r, ...] rows of all processes in rank order,
    differentiable; ``x`` itself with one process."""
    if world()[1] == 1:
        return x
    return _GatherRows.apply(x)
