"""``python -m benchmarks [--quick] [--json] [--dir D] [--dev-set FILE]`` (``make bench``)."""

from __future__ import annotations

from pathlib import Path

import click

from benchmarks.bench import default_workdir, render_table, rows_to_json, run_bench
from bot.cli import friendly_errors, load_settings

# The shared question set beside the project, when there is one.
DEFAULT_DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "eval" / "dev.jsonl"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="One small corpus, few repetitions (a smoke test).")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where corpora and indexes are built (READOUT_BENCH_DIR, default a temp folder).",
)
@click.option(
    "--dev-set",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Question set for the quality rows (default ../shared/eval/dev.jsonl when present).",
)
def main(quick: bool, as_json: bool, workdir: Path | None, dev_set: Path | None) -> None:
    """Measure speed and memory as ratios, all in one run on this machine."""
    if dev_set is None and DEFAULT_DEV_SET.is_file():
        dev_set = DEFAULT_DEV_SET
    with friendly_errors():
        settings = load_settings()
        rows = run_bench(
            settings,
            workdir=workdir or default_workdir(settings),
            quick=quick,
            dev_set=dev_set,
            progress=lambda message: click.echo(f"… {message}", err=True),
            # Each row as soon as it is measured: a full run takes about half an hour.
            on_row=lambda row: click.echo("  " + render_table([row]).splitlines()[1], err=True),
        )
    click.echo(rows_to_json(rows) if as_json else render_table(rows))


if __name__ == "__main__":
    main()
