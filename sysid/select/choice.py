"""The rule that picks the winner among scored candidate systems, and its words.

:func:`choose` returns the shortest eligible expression whose score is within
``SCORE_SLACK`` of the lowest eligible score; :func:`explain` says so with the
numbers it compared and why each other candidate was not eligible.
"""

from __future__ import annotations

import numpy as np

from sysid.select.report import CandidateScore

__all__ = ["choose", "explain", "eligible", "SCORE_SLACK", "SEARCH_EVIDENCE", "TRAIN_SLACK"]


#: Largest relative excess of a candidate's training error over the best one's.
TRAIN_SLACK = 0.1


#: Score advantage that a system with expression-search terms needs over every
#: library system with as many fitted numbers or fewer ("very strong" evidence
#: on the scale of Kass and Raftery 1995 for BIC differences). Library systems
#: with more numbers get no such protection: a search law that is both shorter
#: and better (gompertz's ``N*log(N)`` against a cubic, irregular 5 % noise) wins.
SEARCH_EVIDENCE = 10.0


#: Scores within this of the best count as ties, won by the shortest expression: a
#: longer system must beat it by "very strong" evidence (Kass and Raftery 1995).
#: The score sums the training and held-out residuals; with a slack of 2, a small
#: spurious term (``c*y``, c = 0.001-0.02, in the Brusselator at 1-10 % noise) that
#: absorbs refit and solver error won by 3-4.
SCORE_SLACK = 10.0


def eligible(scores: list[CandidateScore]) -> tuple[list[int], dict[int, str]]:
    """The candidates that may win, and why each other one that simulated may not.

    Candidates whose training error exceeds the best training error by more than
    ``TRAIN_SLACK`` are not eligible: they miss structure that short held-out
    windows (simulated from fitted starts) cannot reveal, e.g. SIR without
    ``-gamma*I`` at 10 % noise. Systems with expression-search terms are
    eligible only when their score beats every library system with as many
    fitted numbers or fewer by ``SEARCH_EVIDENCE`` (on noisy falling-mass data
    a small ``exp(-c*v)`` term otherwise mopped up noise).
    """
    ok = [i for i, c in enumerate(scores) if c.status == "ok"]
    library = [i for i in ok if scores[i].origin == "library"]
    excluded: dict[int, str] = {}
    for i in ok:
        if scores[i].origin == "library":
            continue
        rivals = [scores[j].score for j in library if scores[j].n_params <= scores[i].n_params]
        if rivals and not scores[i].score < min(rivals) - SEARCH_EVIDENCE:
            excluded[i] = (
                f"expression-search terms need a score {SEARCH_EVIDENCE:g} below every "
                "library system with as many numbers"
            )
    ok = [i for i in ok if i not in excluded]
    train = [float(r) for i in ok if (r := scores[i].train_rmse) is not None and np.isfinite(r)]
    if train:
        limit = (1.0 + TRAIN_SLACK) * min(train)
        for i in ok:
            r = scores[i].train_rmse
            if r is not None and r > limit:
                excluded[i] = (
                    f"training error {r:.3g} more than {100 * TRAIN_SLACK:g}% above the best "
                    f"({min(train):.3g})"
                )
        ok = [i for i in ok if i not in excluded]
    return ok, excluded


def choose(scores: list[CandidateScore]) -> int | None:
    """The winner: the shortest eligible expression whose score is within the slack of the lowest.

    Eligibility: :func:`eligible`.
    """
    ok, _ = eligible(scores)
    if not ok:
        return None
    best = min(scores[i].score for i in ok)
    close = [i for i in ok if scores[i].score <= best + SCORE_SLACK]
    return min(close, key=lambda i: (scores[i].complexity, scores[i].score, i))


def explain(scores: list[CandidateScore], winner: int, criterion: str, refit_ok: bool) -> str:
    """The rule that chose, in words, with the numbers it compared."""
    crit = criterion.upper()
    w = scores[winner]
    simulated = [i for i, c in enumerate(scores) if c.status == "ok"]
    ok, excluded = eligible(scores)
    ok.sort(key=lambda i: scores[i].score)
    best = scores[ok[0]].score
    lowest = "its own" if ok[0] == winner else f"#{ok[0]}'s"
    words = [
        f"Chose #{winner} ({w.n_params} coefficients, complexity {w.complexity}): of the "
        f"{len(ok)} eligible candidate(s), it is the shortest expression whose {crit} of "
        f"training and held-out residuals ({w.score:.1f}) is within {SCORE_SLACK:g} of the "
        f"lowest eligible ({lowest}, {best:.1f}); held-out error {w.holdout_rmse:.3g} of each "
        f"state's spread (training {w.train_rmse:.3g})."
    ]
    if excluded:
        words.append(
            f"Not eligible ({len(excluded)} of the {len(simulated)} that simulated): "
            + "; ".join(
                f"#{i} ({crit} {scores[i].score:.1f}): {why}" for i, why in sorted(excluded.items())
            )
            + "."
        )
    others = [i for i in ok if i != winner]
    if others:
        r = others[0]
        words.append(
            f"Runner-up #{r}: {crit} {scores[r].score:.1f} ({scores[r].score - w.score:+.1f}) "
            f"with {scores[r].n_params} coefficients, held-out error "
            f"{scores[r].holdout_rmse:.3g}."
        )
    failed = [i for i, c in enumerate(scores) if c.status != "ok"]
    if failed:
        words.append(
            "Failed and dropped: " + "; ".join(f"#{i}: {scores[i].reason}" for i in failed) + "."
        )
    if not refit_ok:
        words.append("The final refit on all data failed; coefficients are from distillation.")
    return " ".join(words)
