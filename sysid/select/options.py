"""Options of the selection stage of :class:`sysid.SysID`: choosing and polishing the model.

:class:`Selection` holds the options of
:func:`~sysid.select.selection.select_model` (refit each candidate system
through the ODE solver, score it on held-out data, pick one) and of the
polish that follows (:func:`~sysid.fit.polish.polish_model`: drop negligible
terms, refit every constant). It checks every option when built and is frozen.

Examples
--------
>>> Selection(time_limit=20.0, polish=False)
Selection(time_limit=20.0, polish=False)
>>> Selection(criterion="mdl")
Traceback (most recent call last):
...
sysid.core.errors.ConfigError: Selection(criterion=...): criterion must be 'ebic', 'bic' or 'aic', \
found 'mdl'...
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

from sysid.core.errors import ConfigError
from sysid.core.options import (
    Options,
    check_bool,
    check_fraction,
    check_int,
    check_real,
    check_seed_value,
)
from sysid.core.renamed import renamed_options
from sysid.data.dataset import Dataset

__all__ = ["Selection", "CRITERIA", "SELECT_OPTIONS"]

#: Information criteria of the selection score.
CRITERIA = ("ebic", "bic", "aic")
#: The options that are keyword arguments of ``select_model`` (the others are the polish's).
SELECT_OPTIONS = (
    "holdout_fraction",
    "criterion",
    "seed",
    "time_limit",
    "segment_points",
    "max_nfev",
    "margin",
    "rtol",
    "ratio",
    "improvement",
    "prune_below",
)


@renamed_options(time_budget="time_limit")
@dataclass(frozen=True, repr=False)
class Selection(Options):
    """Options of model selection by held-out simulation, and of the final polish.

    Parameters
    ----------
    holdout : None, "windows", "trajectory" or Dataset
        Held-out data: the last ``holdout_fraction`` of each trajectory (None,
        "windows"), one trajectory chosen with ``seed``, or separate trajectories.
    holdout_fraction : float
        In [0, 1).
    criterion : {"ebic", "bic", "aic"}
    seed : int
        Picks the held-out trajectory for ``holdout="trajectory"``.
    time_limit : float
        Seconds for exploring candidate systems.
    segment_points : int or None
        Samples per shooting window of the refits (None: single shooting).
    max_nfev : int
        Most least-squares iterations per refit stage.
    margin : float
        Blow-up box: the data's range widened by ``margin`` ranges on each side.
    rtol : float
        ODE solver tolerance while scoring candidates.
    ratio, improvement
        Which Pareto candidates are plausible (:func:`~sysid.symbolic.sparse.plausible`).
    prune_below : float
        Terms of the winner within this many standard errors of zero are tried without.
    polish : bool
        Polish the chosen model (drop negligible terms, refit the constants inside terms).
    polish_negligible : float
        Terms below this fraction of their equation's largest term are dropped, in [0, 1).
    polish_time_limit : float
        Seconds for the polish refit.
    ensemble : int
        Members of the structural-uncertainty ensemble
        (:func:`~sysid.select.ensemble.run_ensemble`): the selection repeated
        on random parts of the data, giving each term's inclusion probability.
        0 turns it off.
    ensemble_fraction : float
        The part of each trajectory's samples a member keeps, in (0, 1).
    ensemble_jobs : int or None
        Processes for the members; None uses every core, 1 runs them here.
    ensemble_time_limit : float
        Seconds for the whole ensemble; members not finished by then are left out.
    ensemble_fields : int
        Members that each train their own neural field (the next seeds) on
        all data, then distil and select: the structure's dependence on the
        field. Each costs about a whole run; 0 (the default) turns them off.

    Examples
    --------
    >>> sorted(Selection().select_kwargs())[:3]
    ['criterion', 'holdout', 'holdout_fraction']
    >>> Selection().polish_kwargs()
    {'negligible': 0.0001, 'time_limit': 15.0}
    >>> Selection(ensemble=16).ensemble_kwargs()["members"]
    16
    """

    holdout: Dataset | str | None = None
    holdout_fraction: float = 0.25
    criterion: str = "ebic"
    seed: int = 0
    time_limit: float = 60.0
    segment_points: int | None = 20
    max_nfev: int = 30
    margin: float = 5.0
    rtol: float = 1e-6
    ratio: float = 100.0
    improvement: float = 0.2
    prune_below: float = 5.0
    polish: bool = True
    polish_negligible: float = 1e-4
    polish_time_limit: float = 15.0
    ensemble: int = 8
    ensemble_fraction: float = 0.5
    ensemble_jobs: int | None = None
    ensemble_time_limit: float = 60.0
    ensemble_fields: int = 0

    def _validate(self) -> None:
        h = self.holdout
        named = isinstance(h, str) and h in ("windows", "trajectory")
        if not (h is None or named or isinstance(h, Dataset)):
            raise ConfigError(
                f"holdout must be None, 'windows', 'trajectory' or a Dataset, found {h!r}",
                source=self._source("holdout"),
            )
        check_fraction(self, "holdout_fraction", hint="0.25 holds out the last quarter")
        if not (isinstance(self.criterion, str) and self.criterion in CRITERIA):
            raise ConfigError(
                f"criterion must be 'ebic', 'bic' or 'aic', found {self.criterion!r}",
                source=self._source("criterion"),
                hint="'ebic' (the default) also pays for choosing terms out of a large library",
            )
        check_seed_value(self.seed, self._source("seed"))
        check_real(self, "time_limit", 0.0)
        sp = self.segment_points
        ok = isinstance(sp, numbers.Integral) and not isinstance(sp, bool) and sp >= 2
        if not (sp is None or ok):
            raise ConfigError(
                f"segment_points must be None or an integer >= 2, found {sp!r}",
                source=self._source("segment_points"),
            )
        check_int(self, "max_nfev", 1)
        for name in ("margin", "rtol", "ratio"):
            check_real(self, name, 0.0, strict=True)
        check_fraction(self, "improvement")
        check_real(self, "prune_below", 0.0)
        check_bool(self, "polish")
        check_fraction(self, "polish_negligible")
        check_real(self, "polish_time_limit", 0.0, strict=True)
        check_int(self, "ensemble", 0)
        check_real(
            self,
            "ensemble_fraction",
            0.0,
            strict=True,
            hi=1.0,
            hint="0.5 (the default) keeps half of each trajectory's samples per member",
        )
        if self.ensemble_jobs is not None:
            check_int(self, "ensemble_jobs", 1)
        check_real(self, "ensemble_time_limit", 0.0, strict=True)
        check_int(self, "ensemble_fields", 0)

    def select_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~sysid.select.selection.select_model` (with ``holdout``)."""
        params = self.get_params()
        return {"holdout": self.holdout, **{k: params[k] for k in SELECT_OPTIONS}}

    def polish_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~sysid.fit.polish.polish_model`."""
        return {"negligible": self.polish_negligible, "time_limit": self.polish_time_limit}

    def ensemble_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~sysid.select.ensemble.run_ensemble`."""
        return {
            "members": self.ensemble,
            "fraction": self.ensemble_fraction,
            "jobs": self.ensemble_jobs,
            "time_limit": self.ensemble_time_limit,
            "seed": self.seed,
        }

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if isinstance(self.holdout, Dataset):
            out["holdout"] = f"{self.holdout.n_trajectories} separate trajectories"
        return out
