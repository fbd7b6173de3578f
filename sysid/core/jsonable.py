"""JSON-ready data: the one rule for non-finite numbers and numpy scalars in output files.

Examples
--------
>>> import numpy as np
>>> json_safe({"a": np.float64("nan"), "b": (np.int64(2), np.inf), "c": np.bool_(True)})
{'a': None, 'b': [2, None], 'c': True}
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["json_safe"]


def json_safe(obj: Any) -> Any:
    """Replace NaN/inf by None and numpy scalars by Python ones, recursively."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if np.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
