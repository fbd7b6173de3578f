"""The colour palette shared by every figure."""

from __future__ import annotations

__all__ = ["COLORS"]

#: Line colours of the trajectories, in order.
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
