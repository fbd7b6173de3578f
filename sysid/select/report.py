"""What :func:`~sysid.select.selection.select_model` tried and why the winner won."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sysid.symbolic.sparse import Candidate

__all__ = ["CandidateScore", "SelectionReport"]


@dataclass
class CandidateScore:
    """One candidate system in a :class:`SelectionReport`.

    ``train_rmse`` and ``holdout_rmse`` are root-mean-square errors of the
    simulated states in units of each state's standard deviation. ``score`` is
    the selection score (lower is better): the information criterion of all
    residuals, those of the training fit and those of the held-out
    simulation. ``train_score`` and ``holdout_score`` are the same criterion
    on each part alone, for reference (``holdout_score`` is None when nothing
    was held out).
    """

    equations: dict[str, str]
    n_params: int
    complexity: int
    status: str  # "ok" or "failed"
    reason: str = ""
    train_rmse: float | None = None
    holdout_rmse: float | None = None
    train_score: float | None = None
    score: float | None = None
    holdout_score: float | None = None
    chosen: bool = False
    origin: str = "library"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class SelectionReport:
    """Why :func:`select_model` chose its model.

    Attributes
    ----------
    criterion : str
        ``"ebic"``, ``"bic"`` or ``"aic"``.
    holdout : str
        What the held-out data were.
    candidates : list of CandidateScore
        Every system tried, in the order tried; failed ones keep their reason.
    winner : int or None
        Index of the chosen candidate.
    explanation : str
        The choice in words.
    elapsed : float
        Seconds spent.
    initial_states : list of list of float, optional
        The winner's fitted start of each trajectory (final refit), state order.
    correlation : list of list of float, optional
        Correlation matrix of the winner's constants, in the order of the
        model's terms (final refit; empty when it failed).
    systems : list of dict state -> Candidate
        The system of each candidate, in the same order (not written to
        JSON): what :func:`~sysid.select.selection.score_systems` scores again.
    """

    criterion: str
    holdout: str
    candidates: list[CandidateScore] = field(default_factory=list)
    winner: int | None = None
    explanation: str = ""
    elapsed: float = 0.0
    initial_states: list[list[float]] | None = None
    correlation: list[list[float]] | None = None
    systems: list[dict[str, Candidate]] = field(default_factory=list, repr=False, compare=False)

    def __str__(self) -> str:
        crit = self.criterion.upper()
        lines = [
            f"model selection ({crit} of training and held-out residuals; held out: {self.holdout})"
        ]
        lines.append(f"  {'#':>2} {crit:>10} {'held-out':>9} {'train':>9} {'p':>3}  equations")
        for i, c in enumerate(self.candidates):
            mark = "*" if c.chosen else ("-" if c.status != "ok" else " ")
            eqs = "; ".join(f"{s}' = {e}" for s, e in c.equations.items())
            if c.status == "ok":
                lines.append(
                    f"{mark} {i:2d} {c.score:10.1f} {c.holdout_rmse:9.3g} {c.train_rmse:9.3g} "
                    f"{c.n_params:3d}  {eqs}"
                )
            else:
                lines.append(f"{mark} {i:2d} {'failed':>10} {'':9} {'':9} {c.n_params:3d}  {eqs}")
                lines.append(f"{'':16}reason: {c.reason}")
        lines.append(self.explanation)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the model's ``selection``)."""
        return {
            "criterion": self.criterion,
            "holdout": self.holdout,
            "winner": self.winner,
            "explanation": self.explanation,
            "elapsed_s": self.elapsed,
            "candidates": [c.to_dict() for c in self.candidates],
            "initial_states": self.initial_states,
            "correlation": self.correlation,
        }
