"""upsampling layers."""

__all__: list[str] = []
