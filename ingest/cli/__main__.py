"""``python -m ingest.cli``: the same as the ``intake`` command."""

from ingest.cli import main

main(prog_name="intake")
