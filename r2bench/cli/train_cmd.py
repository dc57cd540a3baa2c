"""``r2bench train`` and ``r2bench ablate``: train the reference model.

The library lives in ``reference_model.training`` (torch, the ``model`` extra); it is
imported inside the commands so that the rest of the CLI works without it.
"""

from __future__ import annotations

import json
import sys

import click

from r2bench.cli.main import main, progress_enabled
from r2bench.errors import R2BenchError
from r2bench.measures import fmt_percent

_SIGNAL_STATUS = {"SIGINT": 130, "SIGTERM": 143}


def parse_overrides(pairs: tuple[str, ...]) -> dict:
    """``("optim.lr=3e-4", "model.criterion.cycle=angle")`` -> a nested dict; values are read
    as JSON when they parse (numbers, true/false, lists), else as strings."""
    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--set")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def build_train_config(config: str, text_encoder: str | None, overrides: dict, **top):
    """The preset of ``config`` with ``top`` (None = keep) and the ``--set`` overrides."""
    from reference_model.config import CONFIGS
    from reference_model.training.config import PRESETS, with_overrides

    cfg = PRESETS[config](CONFIGS[config](text_encoder))
    cfg = cfg.replace(**{k: v for k, v in top.items() if v is not None})
    try:
        return with_overrides(cfg, overrides)
    except (ValueError, TypeError) as e:
        raise R2BenchError(None, f"--set: {e}") from None


@main.command()
@click.option("--config", "config", type=click.Choice(["tiny", "r50"]), required=True,
              help="Model and training preset: tiny (CPU) or r50 (the release).")
@click.option("--data", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Ref-Youtube-VOS-layout root with ground truth (obj_id, Annotations/).")
@click.option("--split", default="train", show_default=True, help="Split of --data.")
@click.option("--out", "run", default=None, type=click.Path(file_okay=False, path_type=str),
              help="Run folder (checkpoints, log.jsonl, model.safetensors, text_encoder/)  "
                   "[default with --resume: the run resumed].")
@click.option("--text-encoder", "text_dir", type=click.Path(path_type=str), default=None,
              help="Local Hugging Face text-encoder folder (distilroberta-base for r50)  "
                   "[tiny default: a small one trained on the split's captions].")
@click.option("--init", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Start from these weights (an r2bench or the authors' checkpoint).")
@click.option("--resume", type=click.Path(path_type=str), default=None,
              help="Continue a run: its folder (newest checkpoint) or a checkpoint folder.")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Epochs  [preset].")
@click.option("--batch-size", type=click.IntRange(1), default=None,
              help="Clips per step over all processes  [preset].")
@click.option("--max-steps", type=click.IntRange(1), default=None,
              help="Stop after this many steps.")
@click.option("--seed", type=int, default=None, help="Seed  [preset].")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override any config field, e.g. optim.lr=2e-4 or "
                   "model.criterion.cycle=angle (repeatable).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--amp/--no-amp", default=None, help="Mixed precision on CUDA  [preset: on].")
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True,
              help="Data-loading processes per training process.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="Torch threads per process  [torch's default].")
@click.option("--save-every", type=click.IntRange(1), default=None,
              help="Also write a checkpoint every N steps.")
@click.option("--keep", type=click.IntRange(1), default=3, show_default=True,
              help="Newest checkpoints kept.")
@click.option("--val", type=click.Path(file_okay=False, path_type=str), default=None,
              help="R2 dataset scored with the model at the end of every epoch.")
@click.option("--stage", type=click.Choice(["backbone", "text", "image", "video"]),
              default="video", show_default=True,
              help="Rung of the pre-training ladder: backbone (shapes and colours of "
                   "frames), text (masked-language modelling of the captions), image "
                   "(referring at T=1 with negatives), video (R2-VOS).")
@click.option("--steps", "stage_steps", type=click.IntRange(1), default=None,
              help="Steps of the backbone or text stage  [2000 / 600].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train(config, data, split, run, text_dir, init, resume, epochs, batch_size, max_steps,
          seed, sets, device, amp, workers, threads, save_every, keep, val, stage,
          stage_steps, quiet):
    """Train the reference model on a Ref-Youtube-VOS-layout split.

    Checkpoints every epoch, every --save-every steps, on SIGUSR1 and on SIGTERM / SIGINT
    (then it stops); --resume continues a run with the same losses. Under ``torchrun
    --nproc_per_node N -m r2bench train ...`` the processes share every batch (DDP).
    """
    from r2bench.cli.model_extra import quiet_hf
    from reference_model.training.loop import RunOptions
    from reference_model.training.loop import train as run_training

    run = run_folder(run, resume)
    quiet_hf()
    if config == "r50" and text_dir is None:
        raise click.UsageError("--config r50 needs --text-encoder (distilroberta-base)")
    cfg = build_train_config(config, text_dir, parse_overrides(sets), epochs=epochs,
                             batch_size=batch_size, max_steps=max_steps, seed=seed, amp=amp)
    if stage in ("backbone", "text"):
        _own_loop_stage(stage, cfg, data, split, run, init, resume, threads, stage_steps,
                        save_every, progress_enabled(quiet))
        return
    from reference_model.training.ladder import stage_config

    cfg = stage_config(cfg, stage)
    opts = RunOptions(device=device, workers=workers, threads=threads, save_every=save_every,
                      keep=keep, val=val, progress=progress_enabled(quiet))
    result = run_training(cfg, data, split, run, opts, init=init, resume=resume)
    if result.checkpoint is not None:
        click.echo(f"{run}: step {result.step}, checkpoint {result.checkpoint}")
    for v in result.val[-1:]:
        click.echo(f"{validation_when(v)}: J&F {fmt_percent(v['JF'])}, "
                   f"R {fmt_percent(v['R'])}")
    if result.stopped_by:
        click.echo(f"stopped by {result.stopped_by}; continue with the same command and "
                   f"--resume {run}", err=True)
        sys.exit(_SIGNAL_STATUS[result.stopped_by])


def run_folder(out: str | None, resume: str | None) -> str:
    """--out, or without it the run folder of --resume (RUN, or RUN/checkpoints/step-N)."""
    from pathlib import Path

    if out is not None:
        return out
    if resume is None:
        raise click.UsageError("Missing option '--out' (the run folder; --resume RUN alone "
                               "continues RUN)")
    path = Path(resume)
    if path.parent.name == "checkpoints" and path.name.startswith("step-"):
        return str(path.parent.parent)
    return resume


def validation_when(record: dict) -> str:
    """When a validation ran: after a whole epoch, or at the step a run stopped mid-epoch."""
    if record.get("epoch_complete", True):
        return f"validation after epoch {record['epoch']} (step {record['step']})"
    return (f"validation at step {record['step']} (--max-steps, in epoch {record['epoch']}, "
            "before its end)")


def _own_loop_stage(stage, cfg, data, split, run, init, resume, threads, steps, save_every,
                    progress) -> None:
    from datasets_builder.scene import COLOURS, SHAPES
    from reference_model.training.ladder import train_backbone, train_text

    fn = train_backbone if stage == "backbone" else train_text
    kwargs = {"steps": steps} if steps else {}
    if stage == "backbone":   # the synthetic source's shapes and colours
        kwargs.update(shapes=SHAPES, colours=COLOURS)
    out = fn(cfg, data, split, run, init=init, resume=resume is not None, threads=threads,
             save_every=save_every or 100, progress=progress, **kwargs)
    click.echo(f"{run}: {stage} stage done, weights {out / 'model.safetensors'}")


def _variants(ctx, param, value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    from reference_model.training.ablate import VARIANTS

    names = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise click.BadParameter(f"unknown variant(s) {', '.join(unknown) or '(none)'}; "
                                 f"choose from {', '.join(VARIANTS)}")
    return names


@main.command()
@click.option("--config", "config", type=click.Choice(["tiny", "r50"]), default="tiny",
              show_default=True, help="Base model and training preset.")
@click.option("--data", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Ref-Youtube-VOS-layout root with ground truth.")
@click.option("--split", default="train", show_default=True, help="Split of --data.")
@click.option("--val", required=True, type=click.Path(file_okay=False, path_type=str),
              help="R2 dataset every variant is scored on.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder of the variants' runs and results (rerun to continue).")
@click.option("--variants", callback=_variants, default=None,
              help="Comma-separated variants  [default: full, no-pair-head, cycle-off, "
                   "cycle-pointwise, cycle-distance, cycle-angle, no-mix-query, no-grounding, "
                   "baseline].")
@click.option("--text-encoder", "text_dir", type=click.Path(path_type=str), default=None,
              help="Text-encoder folder (needed for r50).")
@click.option("--epochs", type=click.IntRange(1), default=None, help="Epochs  [preset].")
@click.option("--max-steps", type=click.IntRange(1), default=None,
              help="Steps per variant.")
@click.option("--seed", type=int, default=None, help="Seed of every variant  [preset].")
@click.option("--init", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Start every variant from this checkpoint (a ladder rung's "
                   "model.safetensors); a variant without a part leaves its weights out.")
@click.option("--seeds", type=click.IntRange(1), default=1, show_default=True,
              help="Train every variant with N seeds (--seed, --seed + 1, ...): means, 95% "
                   "intervals and the paired test of r2bench compare against full.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a field of the base config (repeatable).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--workers", type=click.IntRange(0), default=2, show_default=True,
              help="Data-loading processes.")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="Torch threads per process  [torch's default].")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def ablate(config, data, split, val, out, variants, text_dir, epochs, max_steps, seed, init,
           seeds, sets, device, workers, threads, quiet):
    """Train one model per ablation switch of the paper (Tables 3-6) on the same data and
    seed, score each on the --val R2 dataset and print the J, F, J&F, R, J&F&R table."""
    from r2bench.cli.model_extra import quiet_hf
    from r2bench.measures import format_summary_table
    from reference_model.training.ablate import DEFAULT_VARIANTS, run_ablation
    from reference_model.training.loop import RunOptions

    quiet_hf()
    if config == "r50" and text_dir is None:
        raise click.UsageError("--config r50 needs --text-encoder (distilroberta-base)")
    cfg = build_train_config(config, text_dir, parse_overrides(sets), epochs=epochs,
                             max_steps=max_steps, seed=seed)
    opts = RunOptions(device=device, workers=workers, threads=threads,
                      progress=progress_enabled(quiet))
    if seeds > 1:
        _seeded(cfg, data, split, val, out, variants or DEFAULT_VARIANTS, opts, seeds, init)
        return
    rows = run_ablation(cfg, data, split, val, out, variants or DEFAULT_VARIANTS, opts, init)
    if rows:
        click.echo(format_summary_table(rows))


def _seeded(cfg, data, split, val, out, variants, opts, n, init) -> None:
    from leaderboard.seeded import (
        format_seeded_table,
        seed_summary,
        versus_full,
    )
    from reference_model.training.ablate import run_seeded_ablation

    seeds = tuple(range(cfg.seed, cfg.seed + n))
    runs = run_seeded_ablation(cfg, data, split, val, out, seeds, variants, opts, init)
    full = runs.get("full")
    rows = [(name, seed_summary([r for _, r in res]),
             versus_full(full, res) if full is not None and name != "full" else None)
            for name, res in runs.items()]
    if rows:
        click.echo(format_seeded_table(rows, n), nl=False)
