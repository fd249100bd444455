"""Functional normalization."""

__all__: list[str] = []
