"""Benchmarks: tools, not runtime. ``python -m benchmarks`` (``make bench``) measures speed and
memory as ratios in one run (``bench``), through the packages as any user imports them;
``probes`` are the processes it times from outside."""
