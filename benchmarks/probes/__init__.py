"""Processes the benchmark starts and times from outside, each printing its own peak RSS."""

from __future__ import annotations


def peak_rss_kib() -> int:
    """This process's peak resident set size, in KiB.

    Not ``getrusage``'s ``ru_maxrss``: Linux carries it over fork and exec, so a child of the
    (large) benchmark process would report its parent's peak."""
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
