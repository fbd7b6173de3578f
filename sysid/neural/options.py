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
>>> validate(NeuralField(width=8, depth=0))
Traceback (most recent call last):
...
sysid.core.errors.ConfigError: NeuralField(depth=...): depth must be an integer >= 1, found 0
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import torch

from sysid.core.errors import ConfigError
from sysid.core.known import check_known_text
from sysid.core.options import (
    check_bool_value,
    check_choice_value,
    check_int_value,
    check_real_value,
    check_seed_value,
)
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
]

DTYPES = {"float64": torch.float64, "float32": torch.float32}
GRADIENTS = ("adjoint", "direct")


def _source(name: str) -> str:
    return f"NeuralField({name}=...)"


#: Integer hyperparameters and their smallest values.
_INTEGERS = {
    "width": 1,
    "depth": 1,
    "max_window": 2,
    "max_epochs": 0,
    "patience": 1,
    "pretrain_epochs": 0,
}
#: Hyperparameters that are positive numbers.
_POSITIVE = ("rtol", "atol", "max_step", "step_tol", "time_limit", "lr")


def validate(nf: NeuralField) -> Settings:
    """Check every hyperparameter of ``nf``; return the training settings."""
    for name, lo in _INTEGERS.items():
        check_int_value(getattr(nf, name), name, lo, _source(name))
    check_seed_value(nf.seed, _source("seed"))
    if nf.n_threads is not None:
        check_int_value(nf.n_threads, "n_threads", 1, _source("n_threads"))
    check_choice_value(nf.activation, "activation", tuple(ACTIVATIONS), _source("activation"))
    check_choice_value(nf.gradient, "gradient", GRADIENTS, _source("gradient"))
    check_choice_value(nf.solver, "solver", FIXED_SOLVERS + ADAPTIVE_SOLVERS, _source("solver"))
    for name in _POSITIVE:
        check_real_value(getattr(nf, name), name, 0.0, _source(name), strict=True)
    check_real_value(nf.continuity, "continuity", 0.0, _source("continuity"))
    check_real_value(nf.val_fraction, "val_fraction", 0.0, _source("val_fraction"), hi=0.5)
    check_bool_value(nf.quiet, "quiet", _source("quiet"))
    hz = nf.horizons
    if isinstance(hz, (str, bytes)) or not isinstance(hz, Sequence) or len(hz) == 0:
        raise ConfigError(
            f"horizons must be a non-empty sequence of positive numbers, found {hz!r}",
            source="NeuralField(horizons=...)",
            hint="e.g. horizons=(0.5, 1.0, 2.0, 4.0)",
        )
    for h in hz:
        check_real_value(h, "horizons", 0.0, _source("horizons"), strict=True)
    dtype_name(nf.dtype)
    torch_device(nf.device)
    check_known_text(nf.known, _source("known"))
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
