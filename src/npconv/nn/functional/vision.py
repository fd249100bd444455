"""Functional vision."""

__all__: list[str] = []
