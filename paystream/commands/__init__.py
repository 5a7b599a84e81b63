"""Typer sub-commands of the `paystream` CLI, one module per command group."""
