"""The convolution core: argument rules (``arguments``), the N-d primitive (``primitive``) and the
algorithms behind it (``algorithms``)."""
