"""flatten layers."""

__all__: list[str] = []
