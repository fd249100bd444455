"""Functional linear."""

__all__: list[str] = []
