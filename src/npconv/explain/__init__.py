"""Explaining convolutions: the shape/receptive-field calculator (``npconv shape``, ``npconv.summary``)
and pictures of what a layer does (``npconv viz``)."""

from .calculator import LayerError, LayerReport, Summary, analyze, summary
from .spec import LayerCall, SpecError, parse_spec

__all__ = ["LayerCall", "LayerError", "LayerReport", "SpecError", "Summary", "analyze", "parse_spec", "summary"]
