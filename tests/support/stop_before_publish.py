"""Run an r2bench command that stops just before its output is renamed into place.

    python stop_before_publish.py MARKER OUT r2bench-args...

When the command's staging of OUT (file or folder) is whole, its path is written to MARKER
and the process sleeps, so a test can kill it at a known point: the worst moment for
debris, everything written and nothing published. Files staged inside OUT's staging are
published as usual.
"""

import sys
import time
from pathlib import Path

from r2bench import fileio
from r2bench.cli import main

_publish = fileio._publish


def _stop(tmp, path) -> None:
    if Path(path) != Path(sys.argv[2]):
        _publish(tmp, path)
        return
    marker = Path(sys.argv[1])
    marker.with_suffix(".part").write_text(str(tmp))
    marker.with_suffix(".part").rename(marker)     # the test never reads half a path
    time.sleep(600)


if __name__ == "__main__":
    fileio._publish = _stop
    main(sys.argv[3:], prog_name="r2bench")
