"""``readout ask QUESTION`` as a user runs it, then this process's peak RSS on stderr
(``maxrss N``): the cold-start rows time this from process start to its exit."""

from __future__ import annotations

import runpy
import sys

from benchmarks.probes import peak_rss_kib


def main(question: str) -> None:
    sys.argv = ["readout", "ask", question]
    try:
        runpy.run_module("bot", run_name="__main__")
    finally:
        print("maxrss", peak_rss_kib(), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
