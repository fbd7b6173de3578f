"""The multiple-shooting objective of a fitted field and its gradients, on any data.

Used to check that adjoint and direct gradients agree, and to measure what
one training step costs (``examples/adjoint_memory.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from sysid.core.options import check_choice_value, check_int_value
from sysid.data.dataset import load_data
from sysid.neural.net import ADAPTIVE_SOLVERS, FIXED_SOLVERS
from sysid.neural.options import GRADIENTS, torch_threads
from sysid.neural.train import _Stage, objective, split_gap
from sysid.neural.windows import make_windows, smooth

if TYPE_CHECKING:
    from sysid.neural.field import NeuralField

__all__ = ["loss_and_grads", "training_step"]


def loss_and_grads(
    field: NeuralField,
    data: Any,
    *,
    gradient: str = "adjoint",
    window: int | None = None,
    solver: str | None = None,
    substeps: int | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """The multiple-shooting objective on ``data`` and its gradients.

    Start states come from smoothing splines of ``data``; no sample is held
    out. Used to check that adjoint and direct gradients agree.

    Parameters
    ----------
    field : NeuralField
        A fitted field (``max_epochs=0`` is enough).
    data : Dataset or anything :func:`sysid.data.load_data` accepts
        Trajectories with the field's state columns.
    gradient : {"adjoint", "direct"}
    window : int, optional
        Sample intervals per window; default the field's last training window.
    solver, substeps, rtol, atol : optional
        Override the field's solver; ``substeps`` fixes the steps per sample
        interval of a fixed-step solver.

    Returns
    -------
    loss : float
    grads : dict
        Gradient of every weight (by state_dict name) and of the window start
        states (``"start_states"``), as float64 arrays.

    Examples
    --------
    >>> import sysid
    >>> from sysid.neural.field import NeuralField
    >>> ds = sysid.simulate("lotka-volterra", n_samples=20, seed=0)
    >>> nf = NeuralField(width=8, max_epochs=0, quiet=True).fit(ds)
    >>> la, ga = loss_and_grads(nf, ds, gradient="adjoint", window=5)
    >>> ld, gd = loss_and_grads(nf, ds, gradient="direct", window=5)
    >>> bool(abs(la - ld) < 1e-12)
    True
    """
    step = training_step(
        field,
        data,
        gradient=gradient,
        window=window,
        solver=solver,
        substeps=substeps,
        rtol=rtol,
        atol=atol,
    )
    return step()


def training_step(
    field: NeuralField,
    data: Any,
    *,
    gradient: str = "adjoint",
    window: int | None = None,
    solver: str | None = None,
    substeps: int | None = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> Callable[[], tuple[float, dict[str, np.ndarray]]]:
    """Prepare one training step on ``data``; calling it solves and backpropagates.

    All data handling (windows, start states, tensors) happens here, so the
    returned function does only the work whose cost depends on the gradient
    method (used by ``examples/adjoint_memory.py``). Parameters as in
    :func:`loss_and_grads`, which is ``training_step(...)()``.

    Examples
    --------
    >>> import sysid
    >>> from sysid.neural.field import NeuralField
    >>> ds = sysid.simulate("sir", n_samples=20, seed=0)
    >>> nf = NeuralField(width=8, max_epochs=0, quiet=True).fit(ds)
    >>> step = training_step(nf, ds, gradient="adjoint", window=19)
    >>> loss, grads = step()
    >>> sorted(grads)[:2]
    ['net.0.bias', 'net.0.weight']
    """
    field._check_fitted()
    check_choice_value(gradient, "gradient", GRADIENTS, "training_step(gradient=...)")
    st = field._validate()
    if solver is not None:
        solvers = FIXED_SOLVERS + ADAPTIVE_SOLVERS
        check_choice_value(solver, "solver", solvers, "training_step(solver=...)")
        st.solver = solver
    st.rtol = st.rtol if rtol is None else float(rtol)
    st.atol = st.atol if atol is None else float(atol)
    ds = load_data(data)
    sc = field.scaler_
    taus = [(tr.t - tr.t[0]) / sc.time_scale for tr in ds]
    zs = [sc.to_z(tr.x) for tr in ds]
    m = window if window is not None else (field.window_ or 4)
    check_int_value(m, "window", 1, "training_step(window=...)")
    w = make_windows(taus, zs, int(m), max_gap=split_gap(taus))
    starts = [smooth(t, z)[0] for t, z in zip(taus, zs, strict=True)]
    p = next(field.field_.parameters())
    stage = _Stage(w, field.field_, taus, starts, st, p.device, p.dtype, st.lr)
    if substeps is not None:
        check_int_value(substeps, "substeps", 1, "training_step(substeps=...)")
        stage.substeps = int(substeps)

    def step() -> tuple[float, dict[str, np.ndarray]]:
        stage.opt.zero_grad(set_to_none=True)
        with torch_threads(field.n_threads):
            total, _, _ = objective(stage, gradient, st.rtol, st.atol, st.continuity)
            total.backward()
        grads = {
            name: q.grad.detach().cpu().numpy().astype(np.float64).copy()
            for name, q in field.field_.named_parameters()
        }
        grads["start_states"] = stage.S.grad.detach().cpu().numpy().astype(np.float64).copy()
        for q in field.field_.parameters():
            q.grad = None
        return float(total.item()), grads

    return step
