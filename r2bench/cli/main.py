"""The root ``r2bench`` command group.

Commands are thin: they parse arguments, call one library function and print. Library
errors (`R2BenchError`) become one line on stderr and exit status 2; an unexpected failure
becomes one line and status 1 (set R2BENCH_DEBUG=1 for the traceback); Ctrl-C becomes one
line and status 130, the shell's convention for SIGINT (outputs are written atomically, so
an interrupted command leaves none behind).
"""

from __future__ import annotations

import os
import sys

import click

from r2bench import __version__
from r2bench.errors import R2BenchError


class CommandError(click.ClickException):
    """A failure reported as ``r2bench: <message>`` with a chosen exit status."""

    def __init__(self, message: str, exit_code: int = 2, prefix: str = "r2bench: "):
        super().__init__(message)
        self.exit_code = exit_code
        self.prefix = prefix

    def show(self, file=None) -> None:
        click.echo(f"{self.prefix}{self.format_message()}", err=True)


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:  # one line, like every other input error
            where = e.ctx.command_path if e.ctx is not None else ctx.command_path
            msg = f"{where}: {e.format_message().rstrip('.')} (see {where} --help)"
            raise CommandError(msg, 2, prefix="") from None
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            raise CommandError("interrupted", 130) from None
        except R2BenchError as e:
            raise CommandError(str(e), e.exit_code) from None
        except OSError as e:
            where = f"{e.filename}: " if getattr(e, "filename", None) else ""
            raise CommandError(f"{where}{e.strerror or e}", 1) from None
        except MemoryError:
            raise CommandError("out of memory", 1) from None
        except Exception as e:
            if os.environ.get("R2BENCH_DEBUG"):
                raise
            msg = f"internal error: {type(e).__name__}: {e} (R2BENCH_DEBUG=1 shows where)"
            raise CommandError(msg.replace("\n", " "), 1) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="r2bench")
def main() -> None:
    """r2bench: the R2-VOS benchmark toolkit (build, score, run, publish)."""


def progress_enabled(quiet: bool) -> bool:
    """Progress bars go to stderr unless --quiet."""
    return not quiet and sys.stderr is not None


OVERWRITE_HELP = "Replace outputs that already exist (without it, an existing output is refused)."
overwrite_option = click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)


def refuse_existing(*paths, overwrite: bool = False) -> None:
    """The one rule for outputs, files and folders alike: one that exists already is refused
    before any work starts, unless --overwrite. ``None`` entries are skipped."""
    from r2bench.errors import R2BenchError

    if overwrite:
        return
    for path in paths:
        if path is not None and os.path.lexists(path):
            raise R2BenchError(path, "already exists (use --overwrite to replace it)")
