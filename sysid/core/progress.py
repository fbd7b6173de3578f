"""Progress bars: a notebook widget where Jupyter can draw one, text on stderr otherwise."""

from __future__ import annotations

import importlib.util
from typing import Any

__all__ = ["progress_bar"]


def progress_bar(*args: Any, **kwargs: Any) -> Any:
    """A ``tqdm`` bar; the notebook widget only when ``ipywidgets`` is installed.

    ``tqdm.auto`` warns in every notebook without ``ipywidgets`` (``IProgress not
    found``) and draws nothing; the text bar works everywhere.

    Examples
    --------
    >>> bar = progress_bar(total=3, disable=True)
    >>> bar.update(1); bar.close()
    """
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(*args, **kwargs)
