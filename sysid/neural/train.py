"""Training loop of :class:`sysid.neural.field.NeuralField`: curriculum, faults, budget.

The field is first fitted to derivatives of smoothing splines (a cheap warm
start), then by multiple shooting through the ODE solver: every trajectory is
cut into windows whose start states are learnable (initialised from the
current best estimate of the denoised trajectory), the loss is the misfit of
the solved windows to the data plus a continuity penalty that ties each window's
start to the solution of the window before. Stages lengthen the windows
(curriculum); within a stage the learning rate halves on plateaus and the stage
ends early when the loss on held-out samples stops improving.

Faults (a non-finite loss or gradient, "underflow in dt" and other solver
errors) restore the best weights of the stage and retry with safer settings
(half the learning rate; twice the substeps of a fixed-step solver, or a switch
from an adaptive to a fixed-step solver). Ctrl-C keeps the best weights.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from sysid.core.progress import progress_bar
from sysid.neural.inputs import InputsOf, window_inputs
from sysid.neural.net import FIXED_SOLVERS, VectorField, WindowDynamics, solve_windows
from sysid.neural.windows import Windows, gather_states, make_windows

__all__ = [
    "Settings",
    "Result",
    "train",
    "plan_windows",
    "split_gap",
    "objective",
    "FAULTS",
]

#: Exceptions of one training step that count as numerical faults.
FAULTS = (AssertionError, RuntimeError, FloatingPointError, OverflowError, ZeroDivisionError)


class NonFiniteError(FloatingPointError):
    """The loss or a gradient is NaN or infinite."""


@dataclass
class Settings:
    """Everything the loop needs, already validated by :class:`NeuralField`."""

    gradient: str = "adjoint"
    solver: str = "rk4"
    rtol: float = 1e-6
    atol: float = 1e-8
    max_step: float = 0.2
    step_tol: float = 1e-3
    horizons: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    max_window: int = 32
    max_epochs: int = 1000
    time_limit: float = 600.0
    lr: float = 2e-3
    patience: int = 40
    continuity: float = 1.0
    pretrain_epochs: int = 500
    warmup: int = 20
    max_retries: int = 3
    quiet: bool = False
    train_field: bool = True


@dataclass
class Result:
    """What training leaves behind."""

    history: dict[str, list]
    status: str
    message: str
    states: list[np.ndarray]
    windows: Windows | None = None
    interrupted: bool = False
    extra: dict = field(default_factory=dict)


def _new_history() -> dict[str, list]:
    keys = [
        "epoch",
        "stage",
        "window",
        "loss",
        "continuity",
        "val_loss",
        "val_se",
        "lr",
        "substeps",
    ]
    hist: dict[str, list] = {k: [] for k in keys}
    hist["time"] = []
    hist["events"] = []
    return hist


def plan_windows(
    taus: Sequence[np.ndarray], horizons: Sequence[float], max_window: int
) -> list[int]:
    """Window lengths (sample intervals) of the curriculum stages.

    A horizon in normalised time becomes ``round(h / median step)`` intervals,
    at least 2, at most ``max_window`` and at most the longest trajectory; a
    stage less than 1.5 times longer than the one before replaces it.

    Examples
    --------
    >>> import numpy as np
    >>> plan_windows([np.linspace(0, 10, 101)], (0.25, 0.5, 1.0, 8.0), 40)
    [3, 5, 10, 40]
    """
    steps = np.concatenate([np.diff(t) for t in taus])
    dtau = float(np.median(steps))
    longest = max(int(t.shape[0]) - 1 for t in taus)
    out: list[int] = []
    for h in horizons:
        m = int(round(h / dtau)) if dtau > 0 else 2
        m = min(max(2, min(m, int(max_window))), longest)
        if not out or m >= 1.5 * out[-1]:
            out.append(m)
        elif m > out[-1]:
            out[-1] = m
    return out


def split_gap(taus: Sequence[np.ndarray]) -> float:
    """Longest interval left unsplit: twice the median sample step.

    Longer gaps get virtual points (see :func:`make_windows`), so irregular
    sampling costs about as many solver steps as regular sampling.

    Examples
    --------
    >>> import numpy as np
    >>> split_gap([np.array([0.0, 1.0, 2.0, 10.0])])
    2.0
    """
    return 2.0 * float(np.median(np.concatenate([np.diff(t) for t in taus])))


class _Stage:
    """Tensors, learnable start states and optimiser of one curriculum stage."""

    def __init__(
        self,
        w: Windows,
        field_: VectorField,
        taus: Sequence[np.ndarray],
        start_states: list[np.ndarray],
        st: Settings,
        device: torch.device,
        dtype: torch.dtype,
        lr: float,
        inputs: InputsOf | None = None,
    ) -> None:
        def tens(a):
            return torch.as_tensor(np.asarray(a), dtype=dtype, device=device)

        self.w = w
        self.field = field_
        v = None if inputs is None else tens(window_inputs(w, inputs))
        self.dyn = WindowDynamics(field_, tens(w.coef), v)
        s0 = w.start_states(taus, start_states)
        self.S = torch.nn.Parameter(tens(s0))
        self.obs = tens(w.obs)
        self.tm = tens(w.train_mask)
        self.vm = tens(w.val_mask)
        self.d = int(w.obs.shape[2])
        self.n_val = float(w.val_mask.sum())
        # Missing entries count nowhere; with none, the plain (cheaper) loss is used.
        om = w.obs_mask
        if om is None or om.all():
            self.om = None
            self.n_train_obs = max(float(w.train_mask.sum()), 1.0) * self.d
            self.per_sample: torch.Tensor | int = self.d
        else:
            self.om = tens(om)
            self.n_train_obs = max(float((w.train_mask[..., None] * om).sum()), 1.0)
            self.per_sample = tens(np.maximum(om.sum(-1), 1.0))
        cur = np.flatnonzero(w.prev >= 0)
        self.cur = torch.as_tensor(cur, device=device)
        self.prev = torch.as_tensor(w.prev[cur], device=device)
        self.off = torch.as_tensor(w.offset[cur], device=device)
        self.solver = st.solver
        self.substeps = max(1, math.ceil(w.max_rate() / st.max_step - 1e-9))
        self.lr = lr
        self.train_field = st.train_field
        self.opt = self._optimizer()

    def calibrate(self, tol: float, k_max: int = 64) -> float:
        """Double the substeps of a fixed-step solver until halving the step
        changes no window state by more than ``tol`` (step doubling).

        Returns the last estimated discretisation error.
        """
        if self.solver not in FIXED_SOLVERS:
            return math.nan
        err = math.inf
        with torch.no_grad():
            z = self._solve(self.substeps)
            while self.substeps < k_max:
                z2 = self._solve(2 * self.substeps)
                err = float((z2 - z).abs().max()) if torch.isfinite(z2).all() else math.inf
                if err <= tol:
                    break
                self.substeps *= 2
                z = z2
        return err

    def _solve(self, substeps: int) -> torch.Tensor:
        return solve_windows(
            self.dyn, self.S, gradient="direct", solver=self.solver, substeps=substeps
        )

    def _optimizer(self) -> torch.optim.Optimizer:
        groups = [{"params": [self.S]}]
        if self.train_field:
            groups.insert(0, {"params": list(self.field.parameters())})
        return torch.optim.Adam(groups, lr=self.lr)

    def set_lr(self, lr: float) -> None:
        self.lr = lr
        self.apply_lr()

    def apply_lr(self, factor: float = 1.0) -> None:
        """Put ``factor * lr`` into the optimiser (``factor < 1`` during warm-up)."""
        for g in self.opt.param_groups:
            g["lr"] = self.lr * factor

    def snapshot(self) -> tuple[dict, torch.Tensor]:
        return copy.deepcopy(self.field.state_dict()), self.S.detach().clone()

    def restore(self, snap: tuple[dict, torch.Tensor]) -> None:
        self.field.load_state_dict(snap[0])
        with torch.no_grad():
            self.S.copy_(snap[1])
        self.opt = self._optimizer()

    def safer(self, max_step: float) -> str:
        """Switch to safer settings after a fault; describe the change."""
        self.set_lr(self.lr * 0.5)
        if self.solver in FIXED_SOLVERS:
            self.substeps *= 2
            return f"learning rate halved to {self.lr:.3g}, substeps doubled to {self.substeps}"
        self.solver = "rk4"
        self.substeps = max(self.substeps, math.ceil(self.w.max_rate() / (0.5 * max_step)))
        return f"learning rate halved to {self.lr:.3g}, switched to fixed-step rk4"


def objective(
    stage: _Stage, gradient: str, rtol: float, atol: float, continuity: float
) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """Training objective of a stage at the current parameters.

    Returns the objective tensor, its parts (``loss``, ``continuity``,
    ``val_loss``) as floats, and the solved windows (B, m+1, d).
    """
    z = solve_windows(
        stage.dyn,
        stage.S,
        gradient=gradient,
        solver=stage.solver,
        substeps=stage.substeps,
        rtol=rtol,
        atol=atol,
    )
    sq = (z - stage.obs) ** 2
    if stage.om is not None:
        sq = sq * stage.om  # missing entries: zero misfit, zero gradient
    r = sq.sum(-1)
    data = (r * stage.tm).sum() / stage.n_train_obs
    if stage.cur.numel():
        gap = z[stage.prev, stage.off] - stage.S[stage.cur]
        cont = (gap**2).sum(-1).mean() / stage.d
    else:
        cont = torch.zeros((), dtype=z.dtype, device=z.device)
    total = data + continuity * cont
    with torch.no_grad():
        if stage.n_val:
            rv = (r / stage.per_sample)[stage.vm > 0]
            val = rv.mean().item()
            se = rv.std().item() / math.sqrt(rv.numel()) if rv.numel() > 1 else 0.0
        else:
            val, se = math.nan, math.nan
    parts = {"loss": data.item(), "continuity": cont.item(), "val_loss": val, "val_se": se}
    return total, parts, z


def _states_from(stage: _Stage, lengths: Sequence[int]) -> list[np.ndarray]:
    with torch.no_grad():
        z = solve_windows(
            stage.dyn, stage.S, gradient="direct", solver=stage.solver, substeps=stage.substeps
        )
    return gather_states(stage.w, z.cpu().numpy(), lengths)


def train(
    field_: VectorField,
    taus: Sequence[np.ndarray],
    zs: Sequence[np.ndarray],
    val_masks: Sequence[np.ndarray],
    st: Settings,
    device: torch.device,
    dtype: torch.dtype,
    start_states: list[np.ndarray],
    t_start: float | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    inputs: InputsOf | None = None,
) -> Result:
    """Run the curriculum of multiple-shooting stages (see module docstring).

    ``field_`` is trained in place and ends holding the best weights of the
    last stage reached. ``start_states`` (normalised, per trajectory) seed the
    learnable window starts of the first stage. ``inputs`` drive a field with
    exogenous inputs.
    """
    t_start = time.perf_counter() if t_start is None else t_start
    lengths = [int(t.shape[0]) for t in taus]
    run = _Run(_new_history(), [np.asarray(s, dtype=np.float64) for s in start_states])
    hist = run.hist
    plan = plan_windows(taus, st.horizons, st.max_window) if st.max_epochs > 0 else []
    gap = split_gap(taus)
    status, message, interrupted = "converged", "all stages converged", False
    bar = _progress_bar(st)
    try:
        for si, m in enumerate(plan):
            remaining_epochs = st.max_epochs - run.epoch
            if remaining_epochs <= 0:
                status, message = "max_epochs", f"stopped after max_epochs={st.max_epochs}"
                break
            left_time = st.time_limit - (time.perf_counter() - t_start)
            if left_time <= 0:
                status, message = "timeout", f"stopped by time_limit={st.time_limit:g} s"
                break
            n_left = len(plan) - si
            stage_epochs = max(1, remaining_epochs // n_left)
            stage_deadline = time.perf_counter() + left_time / n_left
            w = make_windows(taus, zs, m, val_masks, max_gap=gap)
            stage = _Stage(w, field_, taus, run.states, st, device, dtype, st.lr, inputs)
            stage.calibrate(st.step_tol)
            # The stage counts for Ctrl-C only once it has a snapshot: an interrupt
            # during calibration keeps the previous stage (or the warm start).
            run.last_w, run.best_snap, run.stage = w, stage.snapshot(), stage
            where = _Where(si, m, len(plan), t_start, bar, on_epoch)
            stage_status = _fit_stage(run, st, where, stage_epochs, stage_deadline)
            stage.restore(run.best_snap)
            run.states = _states_from(stage, lengths)
            if stage_status != "converged" and si == len(plan) - 1:
                if stage_status == "timeout":
                    message = f"last stage stopped by time_limit={st.time_limit:g} s"
                    status = "timeout"
                else:
                    status, message = "max_epochs", f"stopped after max_epochs={st.max_epochs}"
    except KeyboardInterrupt:
        interrupted = True
        status, message = "interrupted", f"interrupted by the user at epoch {run.epoch}"
        hist["events"].append({"epoch": run.epoch, "kind": "interrupt", "message": message})
        if run.stage is not None:
            run.stage.restore(run.best_snap)
            try:
                run.states = _states_from(run.stage, lengths)
            except (KeyboardInterrupt, *FAULTS):
                pass
    except _GiveUp as err:
        status = "fault"
        message = (
            f"training stopped at epoch {err.epoch} (stage {err.stage + 1}) after "
            f"{st.max_retries} retries: {err.what}"
        )
        if run.stage is not None:
            try:
                run.states = _states_from(run.stage, lengths)
            except FAULTS:
                pass
        return Result(hist, status, message, run.states, run.last_w, extra={"cause": err.__cause__})
    finally:
        bar.close()
    return Result(hist, status, message, run.states, run.last_w, interrupted=interrupted)


@dataclass
class _Run:
    """What :func:`train` has done so far (kept up to date for Ctrl-C and faults)."""

    hist: dict[str, list]
    states: list[np.ndarray]
    epoch: int = 0
    stage: _Stage | None = None
    best_snap: tuple[dict, torch.Tensor] | None = None
    last_w: Windows | None = None


@dataclass
class _Where:
    """The stage being fitted, and where its epochs are reported."""

    index: int
    window: int
    n_stages: int
    t_start: float
    bar: Any  # a tqdm bar
    on_epoch: Callable[[dict], None] | None


def _progress_bar(st: Settings) -> Any:
    return progress_bar(
        total=st.max_epochs,
        desc="neural field",
        unit="epoch",
        file=sys.stderr,
        disable=st.quiet,
        leave=False,
        dynamic_ncols=True,
    )


def _fit_stage(run: _Run, st: Settings, where: _Where, n_epochs: int, deadline: float) -> str:
    """Run the epochs of ``run.stage``; return ``"converged"``, ``"max_epochs"`` or ``"timeout"``.

    ``run.best_snap`` follows the best weights; a fault restores them and
    retries with safer settings (:class:`_GiveUp` after ``st.max_retries``).
    """
    stage = run.stage
    best_metric = math.inf
    lr_best, lr_wait, es_wait, retries = math.inf, 0, 0, 0
    lr_floor = st.lr * 1e-2
    e = 0
    while e < n_epochs:
        if time.perf_counter() > deadline:
            return "timeout"
        stage.apply_lr(min(1.0, (e + 1) / st.warmup) if st.warmup else 1.0)
        try:
            total, parts = _forward_backward(stage, st)
        except FAULTS as err:
            retries += 1
            lr_floor = _retry(run, st, err, retries > st.max_retries, where.index, lr_floor)
            continue
        metric = parts["val_loss"] if stage.n_val else parts["loss"]
        tol = parts["val_se"] if stage.n_val else 0.0
        if metric <= best_metric + tol:
            # not significantly worse than the best: prefer the later weights
            run.best_snap = stage.snapshot()
        if metric < best_metric * (1 - 1e-4):
            best_metric, es_wait = metric, 0
        else:
            es_wait += 1
        stage.opt.step()
        tot = total.item()
        if tot < lr_best * (1 - 1e-4) or e < st.warmup:
            lr_best, lr_wait = min(tot, lr_best), 0
        else:
            lr_wait += 1
            if lr_wait > st.patience // 4 and stage.lr > lr_floor:
                stage.set_lr(max(stage.lr * 0.5, lr_floor))
                lr_wait = 0
        e += 1
        _record(run, where, parts, first=e == 1)
        if es_wait >= st.patience:
            return "converged"
    return "max_epochs"


def _forward_backward(stage: _Stage, st: Settings) -> tuple[torch.Tensor, dict[str, float]]:
    """Objective and gradients at the current parameters; NonFiniteError on NaN/inf."""
    stage.opt.zero_grad(set_to_none=True)
    total, parts, _ = objective(stage, st.gradient, st.rtol, st.atol, st.continuity)
    if not torch.isfinite(total):
        raise NonFiniteError(f"loss is {total.item()}")
    total.backward()
    grads = [p.grad for g in stage.opt.param_groups for p in g["params"]]
    if any(g is not None and not torch.isfinite(g).all() for g in grads):
        raise NonFiniteError("a gradient is not finite")
    return total, parts


def _retry(
    run: _Run, st: Settings, err: BaseException, give_up: bool, si: int, lr_floor: float
) -> float:
    """Restore the best weights after fault ``err`` and switch to safer settings.

    Returns the new learning-rate floor; raises :class:`_GiveUp` when ``give_up``.
    """
    stage = run.stage
    what = str(err).strip().splitlines()[0] if str(err).strip() else ""
    what = f"{type(err).__name__}: {what}"[:200]
    if give_up:
        stage.restore(run.best_snap)
        run.hist["events"].append(
            {"epoch": run.epoch, "kind": "fault", "message": f"{what}; giving up"}
        )
        raise _GiveUp(what, run.epoch, si) from err
    stage.restore(run.best_snap)
    change = stage.safer(st.max_step)
    lr_floor = min(lr_floor, stage.lr * 1e-2)
    run.hist["events"].append(
        {"epoch": run.epoch, "kind": "fault", "message": f"{what}; retry: {change}"}
    )
    return lr_floor


def _record(run: _Run, where: _Where, parts: dict[str, float], first: bool) -> None:
    """Append one epoch to the history, advance the progress bar, call ``on_epoch``."""
    stage = run.stage
    rec = {
        "epoch": run.epoch,
        "stage": where.index,
        "window": where.window,
        "lr": stage.lr,
        "substeps": stage.substeps,
        "time": time.perf_counter() - where.t_start,
        **parts,
    }
    for k, v in rec.items():
        run.hist[k].append(v)
    run.epoch += 1
    where.bar.update(1)
    where.bar.set_postfix(
        stage=f"{where.index + 1}/{where.n_stages}",
        win=where.window,
        loss=f"{parts['loss']:.3g}",
        val=f"{parts['val_loss']:.3g}",
        refresh=first,
    )
    if where.on_epoch is not None:
        where.on_epoch(rec)


class _GiveUp(Exception):
    def __init__(self, what: str, epoch: int, stage: int) -> None:
        super().__init__(what)
        self.what, self.epoch, self.stage = what, epoch, stage
