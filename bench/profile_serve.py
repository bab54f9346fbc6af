"""Run ``traza serve`` in-process under cProfile; dump the profile on SIGUSR1 or SIGTERM.

    python bench/profile_serve.py OUT.prof serve --port 8000      # same arguments as `traza`

Used by ``mirror_latency.py --profile`` (py-spy is not installed here). On exit it writes OUT.prof
and OUT.txt (top functions by own and cumulative time).
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import signal
import sys
from pathlib import Path
from types import FrameType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    out = Path(sys.argv[1])
    argv = sys.argv[2:]
    from traza.cli import main as traza_main

    profiler = cProfile.Profile()

    def dump(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(str(out))
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
        out.with_suffix(".txt").write_text(text.getvalue())

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        # uvicorn restores this handler after its graceful shutdown and re-raises SIGTERM into it.
        dump()
        os._exit(0)

    def on_usr1(_sig: int, _frame: FrameType | None) -> None:
        # Dump now (the caller sends SIGUSR1 once the load is drained), whatever shutdown does later.
        dump()
        profiler.enable()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR1, on_usr1)
    profiler.enable()
    try:
        traza_main(argv)
    finally:
        dump()


if __name__ == "__main__":
    main()
