"""``r2bench profile``: speed and memory of the reference model, or of the scorer.

The model's profiler lives in ``reference_model.profiling`` (it needs torch), the scorer's in
``r2bench.scoring_profile``; both are imported inside the command.
"""

from __future__ import annotations

import re
import tempfile

import click

from r2bench.cli.main import main, overwrite_option, progress_enabled, refuse_existing


def _size(ctx, param, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    m = re.fullmatch(r"([1-9]\d*)x([1-9]\d*)", value)
    if not m:
        raise click.BadParameter("expected HEIGHTxWIDTH, e.g. 360x640")
    return int(m[1]), int(m[2])


@main.command("profile")
@click.option("--config", "config_name", type=click.Choice(["r50", "tiny"]), default=None,
              help="Model configuration (random weights)  [default: r50 on CUDA; tiny on CPU, "
                   "where r50 takes about 15 minutes].")
@click.option("--checkpoint", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Time this checkpoint's model instead (needs --text-encoder).")
@click.option("--text-encoder", "text_dir", type=click.Path(path_type=str), default=None,
              help="Local text-encoder folder  [default: a random one of the config's size; "
                   "for r50 distilroberta-base's architecture].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True, help="auto: CUDA when there is a device, else the CPU.")
@click.option("--size", default="360x640", callback=_size, show_default=True, metavar="HxW",
              help="Input frame size HEIGHTxWIDTH.")
@click.option("--output-size", default=None, callback=_size, metavar="HxW",
              help="Size the masks are upsampled to  [default: --size].")
@click.option("--window", type=click.IntRange(1), default=5, show_default=True,
              help="Frames per clip (batch 1).")
@click.option("--precision", type=click.Choice(["fp32", "tf32", "fp16", "bf16"]),
              default="fp32", show_default=True,
              help="tf32: CUDA TF32 matmul/conv; fp16 / bf16: autocast.")
@click.option("--compile", "do_compile", is_flag=True, help="torch.compile each model part.")
@click.option("--channels-last", is_flag=True, help="Channels-last memory format.")
@click.option("--warmup", type=click.IntRange(0), default=None,
              help="Untimed runs first  [default: 3; with --scoring 1].")
@click.option("--iters", type=click.IntRange(1), default=None,
              help="Timed runs  [default: 20; with --scoring 5].")
@click.option("--breakdown-iters", type=click.IntRange(0), default=5, show_default=True,
              help="Windows of the per-part breakdown pass (0: none).")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="CPU threads for torch  [default: torch's].")
@click.option("--variant", type=click.Choice(["r2", "baseline"]), default="r2",
              show_default=True,
              help="r2: the model as configured; baseline: the R2 parts off (ReferFormer-style).")
@click.option("--compare", is_flag=True,
              help="Time the full model and the baseline side by side and print their ratio.")
@click.option("--scoring", is_flag=True,
              help="Profile the scorer instead of the model (see docs/profile.md).")
@click.option("--dataset", type=click.Path(path_type=str), default=None,
              help="With --scoring: an R2 dataset  [default: a generated 720x1280 one].")
@click.option("--preds", type=click.Path(path_type=str), default=None,
              help="With --scoring and --dataset: a submission for it.")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="With --scoring: scorer processes  [default: all cores].")
@click.option("--name", default=None, help="Method name in the record  [default: the config].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the frames and random weights.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="Write the JSON record here (atomically).")
@overwrite_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def profile(config_name, checkpoint, text_dir, device, size, output_size, window, precision,
            do_compile, channels_last, warmup, iters, breakdown_iters, threads, variant,
            compare, scoring, dataset, preds, workers, name, seed, out, overwrite, quiet):
    """Time the reference model on a window of frames at batch 1: FPS, latency (median,
    p90), peak memory, parameters and a per-part breakdown. With --scoring, time the scorer:
    J+F per frame against the plain port of the official code, and scoring against
    decoding only."""
    refuse_existing(out, overwrite=overwrite)
    progress = progress_enabled(quiet)
    if scoring:
        _profile_scoring(dataset, preds, workers, 1 if warmup is None else warmup, iters or 5,
                         out, progress)
        return
    _profile_model(config_name, checkpoint, text_dir, variant, compare, name, seed, out, progress,
                   size=size, window=window, output_size=output_size, device=device,
                   precision=precision, compile=do_compile, channels_last=channels_last,
                   warmup=3 if warmup is None else warmup, iters=iters or 20,
                   breakdown_iters=breakdown_iters, threads=threads)


def _profile_model(config_name, checkpoint, text_dir, variant, compare, name, seed, out,
                   progress, **timing) -> None:
    """The model profile: ``timing`` holds the ProfileConfig fields the options set."""
    from r2bench.cli.model_extra import quiet_hf
    from reference_model.profiling import (
        ProfileConfig,
        check_device,
        format_profile,
        load_profiled_model,
        model_variant,
        profile,
        write_profile,
    )

    quiet_hf()
    timing["device"], config_name = _device_and_config(timing["device"], config_name, checkpoint)
    if timing["compile"]:  # graph breaks are expected (shapes read as Python ints); not news
        import logging

        import torch

        torch._logging.set_logs(dynamo=logging.ERROR)
    cfg = ProfileConfig(seed=seed, **timing)
    check_device(cfg.device)
    with tempfile.TemporaryDirectory(prefix="r2bench-profile-") as work:
        model, provenance = load_profiled_model(config_name, work, checkpoint, text_dir,
                                                cfg.caption, seed)
        variants = ["r2", "baseline"] if compare else [variant]
        models = {v: model_variant(model, v) for v in variants}
        record = profile(models, cfg, provenance, name, progress)
    click.echo(format_profile(record))
    if out:
        write_profile(out, record)
        click.echo(f"wrote {out}")


CPU_DEFAULT_NOTE = ("no --config, on the CPU: profiling the tiny config (r50, the paper's "
                    "model, takes about 15 minutes on a CPU; --config r50 times it anyway)")


def _device_and_config(device: str, config_name: str | None,
                       checkpoint: str | None) -> tuple[str, str]:
    """--device auto resolved; without --config, r50 on CUDA and tiny (said so) on CPU."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if config_name is None:
        config_name = "r50" if device == "cuda" or checkpoint else "tiny"
        if config_name == "tiny":
            click.echo(f"r2bench: note: {CPU_DEFAULT_NOTE}", err=True)
    return device, config_name


def _profile_scoring(dataset, preds, workers, warmup, iters, out, progress) -> None:
    """The scoring profile (r2bench.scoring_profile)."""
    from r2bench.fileio import atomic_write_json
    from r2bench.scoring_profile import format_scoring_profile, profile_scoring, require_opencv

    require_opencv()
    if (dataset is None) != (preds is None):
        raise click.UsageError("--dataset and --preds go together (or neither: a generated "
                               "720x1280 set)")
    with tempfile.TemporaryDirectory(prefix="r2bench-profile-") as work:
        if dataset is None:
            from r2bench.app.demo import write_speed_set

            dataset, preds = write_speed_set(work, progress=progress)
        record = profile_scoring(preds, dataset, workers=workers, warmup=warmup, iters=iters,
                                 progress=progress)
    click.echo(format_scoring_profile(record))
    if out:
        atomic_write_json(out, record)
        click.echo(f"wrote {out}")
