"""Serving stage: the command line and, later, the scoring service."""

__all__: list[str] = []
