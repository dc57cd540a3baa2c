"""``r2bench convert-checkpoint`` and ``r2bench run-reference``: the reference model.

The model lives in ``reference_model`` (it needs torch, the ``model`` extra); it is imported
inside the commands so that the rest of the CLI works without it.
"""

from __future__ import annotations

import re

import click

from r2bench.cli.main import (
    main,
    overwrite_option,
    progress_enabled,
    refuse_existing,
)
from r2bench.cli.model_extra import quiet_hf


def _window(ctx, param, value: str) -> int | None:
    if value == "all":
        return None
    if re.fullmatch(r"[1-9]\d*", value):
        return int(value)
    raise click.BadParameter("expected 'all' or a positive number of frames")


@main.command("convert-checkpoint")
@click.argument("src", type=click.Path(dir_okay=False, path_type=str))
@click.option("--out", "dst", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="The r2bench checkpoint to write (.safetensors).")
@click.option("--text-encoder", "text_dir", type=click.Path(path_type=str), default=None,
              help="Text-encoder folder whose config.json gives the language model's "
                   "architecture  [default: read from the weights].")
@overwrite_option
def convert_checkpoint(src, dst, text_dir, overwrite):
    """Convert the authors' released R2-VOS checkpoint (or an r2bench one) to an r2bench
    checkpoint: one .safetensors file with the weights and the model config."""
    refuse_existing(dst, overwrite=overwrite)
    quiet_hf()
    from reference_model.checkpoint import (
        check_state,
        model_shapes_for_config,
        read_checkpoint,
        save_checkpoint,
    )
    from reference_model.loading import check_text_folder
    from reference_model.text_encoder import language_model_arch

    arch = None
    if text_dir is not None:
        check_text_folder(text_dir)
        arch = language_model_arch(text_dir)
    state, cfg = read_checkpoint(src, text_arch=arch)
    check_state(state, model_shapes_for_config(cfg), src)
    save_checkpoint(dst, state, cfg)
    click.echo(f"wrote {dst}: {len(state)} tensors, {sum(v.numel() for v in state.values()):,} "
               f"values ({cfg.backbone.name}, hidden {cfg.transformer.hidden_dim}, "
               f"{cfg.head.num_queries} queries)")


@main.command("run-reference")
@click.option("--dataset", required=True, type=click.Path(path_type=str),
              help="R2 dataset folder, or a Ref-Youtube-VOS / Ref-DAVIS root with --split.")
@click.option("--split", default=None, help="Split of a Ref-Youtube-VOS root (e.g. valid).")
@click.option("--checkpoint", required=True, type=click.Path(dir_okay=False, path_type=str),
              help="r2bench checkpoint (.safetensors) or the authors' checkpoint.pth.")
@click.option("--text-encoder", "text_dir", required=True, type=click.Path(path_type=str),
              help="Local text-encoder folder (tokenizer files and config.json; "
                   "distilroberta-base for the released checkpoint).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=str),
              help="Folder for the predicted masks (PNG, mode L, 0/255).")
@click.option("--window", default="all", callback=_window, show_default=True,
              help="'all': each video as one clip (the released protocol); N: clips of at "
                   "most N frames, memory bounded by N.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--precision", type=click.Choice(["fp32", "fp16", "bf16"]), default="fp32",
              show_default=True, help="fp16 / bf16 autocast (CUDA only).")
@click.option("--batch-expressions", type=click.IntRange(1), default=None,
              help="Captions run together on a clip's shared features; memory grows with it "
                   "times the clip length  [default: 1 on CPU, 4 on CUDA].")
@click.option("--score", "do_score", is_flag=True, help="Score the predictions when done.")
@click.option("--results", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Also write the results JSON here (implies --score).")
@click.option("--overwrite", is_flag=True,
              help="Replace --results if it exists (OUT itself is resumed, never replaced).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def run_reference(dataset, split, checkpoint, text_dir, out, window, device, precision,
                  batch_expressions, do_score, results, overwrite, quiet):
    """Run the reference model over a dataset and write a submission to OUT.

    Resumable: finished expressions are skipped. Under ``torchrun --nproc_per_node N -m
    r2bench run-reference ...`` the videos are shared among N processes.
    """
    do_score = do_score or results is not None
    refuse_existing(results, overwrite=overwrite)
    quiet_hf()
    from reference_model.inference import (
        InferenceConfig,
        process_share,
        resolve_device,
        run_reference,
        wait_for_all,
    )
    from reference_model.loading import load_model

    rank, world, local_rank = process_share()
    dev = resolve_device(device, local_rank)
    model, cfg = load_model(checkpoint, text_dir, dev)
    if batch_expressions is None:
        batch_expressions = 4 if dev.startswith("cuda") else 1
    icfg = InferenceConfig(window=window, batch_expressions=batch_expressions, device=dev,
                           precision=precision, rank=rank, world_size=world)
    counts = run_reference(dataset, split, model, cfg.short_side, out, icfg,
                           progress=progress_enabled(quiet) and rank == 0)
    click.echo(f"{out}: {counts['written']} expressions written, {counts['skipped']} already "
               f"done ({counts['groups']} videos" + (f", process {rank}/{world}" if world > 1
                                                     else "") + ")")
    wait_for_all(world)
    if do_score and rank == 0:
        from r2bench.measures import format_summary_table
        from r2bench.results import write_results
        from r2bench.scoring import score_submission

        res = score_submission(out, dataset, split=split, progress=progress_enabled(quiet))
        for w in res["warnings"]:
            click.echo(f"r2bench: warning: {w}", err=True)
        if results:
            write_results(results, res)
        click.echo(format_summary_table([("reference", res)]))
        if results:
            click.echo(f"wrote {results}")
