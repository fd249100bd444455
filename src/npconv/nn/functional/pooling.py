"""Functional pooling."""

__all__: list[str] = []
