"""Subcommands of the ``coremlcheck`` command."""
