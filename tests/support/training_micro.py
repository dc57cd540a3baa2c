"""A micro training config (the tiny structure at 32 x 48, width 32), small enough for a
step in well under a second on one CPU thread, and the body of a DDP test process."""

from __future__ import annotations

import os
from dataclasses import replace


def micro_config(text_dir: str, **changes):
    """The tiny structure at 32 x 48 with width 32: a TrainConfig."""
    from reference_model.config import (
        GroundingConfig,
        HeadConfig,
        TransformerConfig,
        VTProjectionConfig,
        tiny,
    )
    from reference_model.training.config import tiny_train

    base = tiny(text_dir)
    model = base.replace(
        text_encoder=replace(base.text_encoder, freeze=True),  # its dropout would differ by rank
        backbone=replace(base.backbone, width=8),
        transformer=TransformerConfig(hidden_dim=32, nheads=2, enc_layers=1, dec_layers=2,
                                      dim_feedforward=32, dropout=0.0, enc_n_points=1,
                                      dec_n_points=1, input_proj_groups=4, fusion_nheads=2),
        grounding=GroundingConfig(nheads=2, dim_feedforward=32, dropout=0.0),
        vt_projection=VTProjectionConfig(layers=1, nheads=2, dim_feedforward=32, dropout=0.0),
        head=HeadConfig(num_queries=3, mask_dim=8, fpn_groups=4),
        input_size=(32, 48), short_side=32)
    cfg = tiny_train(model)
    cfg = cfg.replace(data=replace(cfg.data, augment=replace(cfg.data.augment, scales=(32,),
                                                             max_size=48)),
                      batch_size=4, epochs=20, seed=1)
    return cfg.replace(**changes)


def ddp_worker(rank: int, world: int, port: int, source: str, text_dir: str, run: str,
               steps: int) -> None:
    """One process of a gloo DDP run of ``steps`` steps (``torch.multiprocessing`` target);
    process 0 saves the gradients of the last step to ``run/grads.pt``."""
    import torch

    from reference_model.training.loop import RunOptions, Trainer

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    trainer = Trainer(micro_config(text_dir, max_steps=steps), source, "train", run,
                      RunOptions(device="cpu", workers=0, progress=False))
    trainer.run()
    if rank == 0:
        torch.save(gradients(trainer.model), os.path.join(run, "grads.pt"))


def gradients(model) -> dict:
    """The gradients left by the last step, by parameter name."""
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
