"""The `harness` command line: parsing only; each command calls the package that does the work."""

from harness.cli.main import cli, main

__all__ = ["cli", "main"]
