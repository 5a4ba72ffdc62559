"""``python -m bot`` runs the ``readout`` command line."""

from bot.cli import main

main(prog_name="readout")
