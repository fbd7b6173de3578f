"""Exception and warning types that users of :mod:`sysid` catch.

Every error caused by bad input derives from :class:`SysidInputError`, itself a
``ValueError``, and says what was found, where (file, column, row, value) and
how to fix it. Failures during long work (training, simulation of a candidate
model) derive from :class:`SysidRuntimeError`.

Examples
--------
>>> from sysid.core.errors import DataError
>>> try:
...     raise DataError("column 'x' is missing", source="data.csv", hint="add it")
... except ValueError as err:
...     print(err)
data.csv: column 'x' is missing. Hint: add it
"""

from __future__ import annotations

__all__ = [
    "SysidError",
    "SysidInputError",
    "ProblemFileError",
    "DataError",
    "ConfigError",
    "EquationError",
    "SysidRuntimeError",
    "TrainingError",
    "SimulationError",
    "SysidWarning",
    "DataWarning",
    "ModelWarning",
]


class SysidError(Exception):
    """Base class of every exception raised on purpose by sysid."""


class SysidInputError(SysidError, ValueError):
    """Bad input: a file, a column, a value or an option that cannot be used.

    Parameters
    ----------
    message : str
        What is wrong, naming the value at fault.
    source : str, optional
        Where it is (a file path, ``"argument 'noise'"``...); prefixed to the message.
    hint : str, optional
        How to fix it; appended as ``"Hint: ..."``.
    """

    def __init__(self, message: str, *, source: str | None = None, hint: str | None = None):
        self.message = message
        self.source = source
        self.hint = hint
        text = f"{source}: {message}" if source else message
        if hint:
            text = f"{text.rstrip('.')}. Hint: {hint}"
        super().__init__(text)


class ProblemFileError(SysidInputError):
    """A problem file (TOML) is missing, malformed or unsafe."""


class DataError(SysidInputError):
    """Trajectory data (CSV, DataFrame, arrays) cannot be used as given."""


class ConfigError(SysidInputError):
    """An option or hyperparameter has a wrong type or value."""


class EquationError(SysidInputError):
    """An equation string uses unknown names, functions or unsafe code."""


class SysidRuntimeError(SysidError, RuntimeError):
    """Long work failed; the message names remedies."""


class TrainingError(SysidRuntimeError):
    """Fitting the neural vector field failed and could not be recovered."""


class SimulationError(SysidRuntimeError):
    """An ODE simulation failed (blow-up, step underflow, time limit)."""


class SysidWarning(UserWarning):
    """Base class of sysid's warnings."""


class DataWarning(SysidWarning):
    """Suspicious but usable data (a constant column, dropped rows...)."""


class ModelWarning(SysidWarning):
    """A result whose diagnostics verdict is not ``good``: read its reasons and remedies."""
