"""The warm start of the neural field: the network fitted to smoothing-spline derivatives.

Before any ODE solve, :func:`pretrain` regresses the network on the
derivatives of smoothing splines through the (normalised) data, so the
multiple-shooting stages of :mod:`sysid.neural.train` start from a field that
already points the right way.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch

from sysid.neural.inputs import InputsOf
from sysid.neural.net import VectorField
from sysid.neural.windows import observed_span, smooth

__all__ = ["pretrain"]


def pretrain(
    field_: VectorField,
    taus: Sequence[np.ndarray],
    zs: Sequence[np.ndarray],
    epochs: int,
    device: torch.device,
    dtype: torch.dtype,
    val_masks: Sequence[np.ndarray] | None = None,
    inputs: InputsOf | None = None,
) -> tuple[list[np.ndarray], float, bool]:
    """Fit the field to smoothing-spline derivatives; return smoothed states.

    Held-out samples (``val_masks``) are left out of the splines and the fit.
    Missing values (NaN in ``zs``) are left out of the splines; the fit uses
    only the times where every state's spline interpolates (inside its
    observed span). Ctrl-C stops the fit and keeps its best weights.

    Returns
    -------
    states : list of arrays
        Spline-smoothed normalised states per trajectory.
    loss : float
        Best mean squared derivative misfit (nan when ``epochs`` is 0).
    interrupted : bool
        True when Ctrl-C stopped the fit.
    """
    if val_masks is None:
        val_masks = [np.zeros(t.shape[0], bool) for t in taus]
    use = [~np.asarray(v, bool) for v in val_masks]
    sm = [smooth(t, z, u) for t, z, u in zip(taus, zs, use, strict=True)]
    states = [s for s, _ in sm]
    if epochs <= 0:
        return states, math.nan, False
    use = [u & observed_span(t, z) for t, z, u in zip(taus, zs, use, strict=True)]
    if not any(u.any() for u in use):  # no time where every state is known
        return states, math.nan, False
    zc = np.concatenate([s[u] for s, u in zip(states, use, strict=True)])
    dc = np.concatenate([d[u] for (_, d), u in zip(sm, use, strict=True)])
    zc = torch.as_tensor(zc, dtype=dtype, device=device)
    dc = torch.as_tensor(dc, dtype=dtype, device=device)
    vc = None
    if inputs is not None:
        vs = [at(t)[u] for at, t, u in zip(inputs.at, taus, use, strict=True)]
        vc = torch.as_tensor(np.concatenate(vs), dtype=dtype, device=device)
    if field_.known is not None:  # known terms first take what they explain
        field_.known.start(zc, vc, dc)
    opt = torch.optim.Adam(field_.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=1e-4)
    loss = torch.tensor(math.nan)
    best = (math.inf, copy.deepcopy(field_.state_dict()))
    interrupted = False
    try:
        for _ in range(epochs):
            opt.zero_grad()
            pred = field_(zc) if vc is None else field_(zc, vc)
            loss = ((pred - dc) ** 2).mean()
            if not torch.isfinite(loss):
                break
            if loss.item() < best[0]:
                best = (loss.item(), copy.deepcopy(field_.state_dict()))
            loss.backward()
            opt.step()
            sched.step()
    except KeyboardInterrupt:
        interrupted = True
    field_.load_state_dict(best[1])
    return states, best[0], interrupted
