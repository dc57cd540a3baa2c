"""The one error hierarchy of r2bench.

Library code raises these; only the CLI turns them into a one-line message and an exit
status. Each error names the file it concerns, so the message reads ``FILE: problem``.
"""

from __future__ import annotations

import os


class R2BenchError(Exception):
    """A problem the user can fix, with the file it concerns.

    ``exit_code``: 2 for bad usage or input, 1 for anything else.
    """

    exit_code = 2

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason

    def __reduce__(self):
        # Errors raised in worker processes travel back pickled: keep both fields.
        return (type(self), (self.path, self.reason))


class DatasetError(R2BenchError):
    """The dataset (source root, R2 dataset or categories file) is missing or malformed."""


class SubmissionError(R2BenchError):
    """The predictions are missing, incomplete, malformed or of the wrong size."""


class InfeasibleError(R2BenchError):
    """No R2 dataset can be built from this source under the unrelatedness constraint."""
