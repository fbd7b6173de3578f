"""Hyperparameters of :class:`sysid.neural.field.NeuralField`: checks and runtime settings.

Every option is checked here (a :class:`~sysid.core.errors.ConfigError` naming
the option and the value) and turned into the training
:class:`~sysid.neural.train.Settings`; the torch device, dtype and thread count
of a fit are resolved here too.

Examples
--------
>>> from sysid.neural.field import NeuralField
>>> validate(NeuralField(width=8)).horizons
(0.5, 1.0, 2.0, 4.0)
>>> check_int(0, "width", 1)
Traceback (most recent call last):
...
sysid.core.errors.ConfigError: NeuralField(width=...): width must be an integer >= 1, found 0
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sysid.core.errors import ConfigError
from sysid.neural.net import ACTIVATIONS, ADAPTIVE_SOLVERS, FIXED_SOLVERS
from sysid.neural.train import Settings

if TYPE_CHECKING:
    from sysid.neural.field import NeuralField

__all__ = [
    "DTYPES",
    "GRADIENTS",
    "validate",
    "torch_device",
    "dtype_name",
    "torch_threads",
    "differs",
    "check_int",
    "check_number",
    "check_positive",
    "check_choice",
]

DTYPES = {"float64": torch.float64, "float32": torch.float32}
GRADIENTS = ("adjoint", "direct")


def validate(nf: NeuralField) -> Settings:
    """Check every hyperparameter of ``nf``; return the training settings."""
    src = "NeuralField"
    check_int(nf.width, "width", 1)
    check_int(nf.depth, "depth", 1)
    check_int(nf.max_window, "max_window", 2)
    check_int(nf.max_epochs, "max_epochs", 0)
    check_int(nf.patience, "patience", 1)
    check_int(nf.pretrain_epochs, "pretrain_epochs", 0)
    check_int(nf.seed, "seed", 0)
    if nf.n_threads is not None:
        check_int(nf.n_threads, "n_threads", 1)
    check_choice(nf.activation, "activation", tuple(ACTIVATIONS))
    check_choice(nf.gradient, "gradient", GRADIENTS)
    check_choice(nf.solver, "solver", FIXED_SOLVERS + ADAPTIVE_SOLVERS)
    check_positive(nf.rtol, "rtol")
    check_positive(nf.atol, "atol")
    check_positive(nf.max_step, "max_step")
    check_positive(nf.step_tol, "step_tol")
    check_positive(nf.time_limit, "time_limit")
    check_positive(nf.lr, "lr")
    check_number(nf.continuity, "continuity", lo=0.0)
    check_number(nf.val_fraction, "val_fraction", lo=0.0, hi=0.5, hi_open=True)
    if not isinstance(nf.quiet, (bool, np.bool_)):
        raise ConfigError(f"quiet must be True or False, found {nf.quiet!r}", source=src)
    hz = nf.horizons
    if isinstance(hz, (str, bytes)) or not isinstance(hz, Sequence) or len(hz) == 0:
        raise ConfigError(
            f"horizons must be a non-empty sequence of positive numbers, found {hz!r}",
            source="NeuralField(horizons=...)",
            hint="e.g. horizons=(0.5, 1.0, 2.0, 4.0)",
        )
    for h in hz:
        check_positive(h, "horizons")
    dtype_name(nf.dtype)
    torch_device(nf.device)
    return Settings(
        gradient=nf.gradient,
        solver=nf.solver,
        rtol=float(nf.rtol),
        atol=float(nf.atol),
        max_step=float(nf.max_step),
        step_tol=float(nf.step_tol),
        horizons=tuple(float(h) for h in hz),
        max_window=int(nf.max_window),
        max_epochs=int(nf.max_epochs),
        time_limit=float(nf.time_limit),
        lr=float(nf.lr),
        patience=int(nf.patience),
        continuity=float(nf.continuity),
        pretrain_epochs=int(nf.pretrain_epochs),
        quiet=bool(nf.quiet),
    )


def torch_device(device: Any) -> torch.device:
    """The torch device named by ``device``, or a ConfigError."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ConfigError(
            f"device {device!r} is not a torch device ({err})",
            source="NeuralField(device=...)",
            hint="use 'cpu' or 'cuda'",
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} requested but CUDA is not available",
            source="NeuralField(device=...)",
            hint="use device='cpu'",
        )
    return dev


def dtype_name(dtype: Any) -> str:
    """``"float64"`` or ``"float32"`` for a torch dtype or its name, or a ConfigError."""
    for name, dt in DTYPES.items():
        if dtype is dt or dtype == name:
            return name
    raise ConfigError(
        f"dtype must be torch.float64 or torch.float32, found {dtype!r}",
        source="NeuralField(dtype=...)",
        hint="float64 is the default on CPU",
    )


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use ``n`` torch intra-op threads inside the block (``None``: unchanged)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def differs(a: Any, b: Any) -> bool:
    try:
        return bool(a != b)
    except (TypeError, ValueError):
        return True


def check_int(value: Any, name: str, lo: int) -> None:
    ok = isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)
    if not ok or value < lo:
        raise ConfigError(
            f"{name} must be an integer >= {lo}, found {value!r}",
            source=f"NeuralField({name}=...)",
        )


def check_number(
    value: Any, name: str, lo: float, hi: float | None = None, hi_open: bool = False
) -> None:
    ok = isinstance(value, (numbers.Real, np.floating)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = math.isfinite(v) and v >= lo and (hi is None or (v < hi if hi_open else v <= hi))
    if not ok:
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}{')' if hi_open else ']'}"
        raise ConfigError(
            f"{name} must be a finite number {rng}, found {value!r}",
            source=f"NeuralField({name}=...)",
        )


def check_positive(value: Any, name: str) -> None:
    ok = isinstance(value, (numbers.Real, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(float(value)) or float(value) <= 0:
        raise ConfigError(
            f"{name} must be a finite number > 0, found {value!r}",
            source=f"NeuralField({name}=...)",
        )


def check_choice(value: Any, name: str, choices: Sequence[str]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(
            f"{name} must be one of {list(choices)}, found {value!r}",
            source=f"NeuralField({name}=...)",
        )
