"""A neural vector field fitted to trajectories through an ODE solver.

:class:`NeuralField` learns a smooth vector field ``f(x)``, or ``f(x, u)``
with exogenous inputs (a multilayer perceptron), whose ODE solutions pass
through measured trajectories. Gradients come from torchdiffeq's adjoint method
(``odeint_adjoint``, memory independent of the trajectory length) or, as an
option, from backpropagation through the solver. The fitted field is a
smoother and a derivative oracle for the symbolic step: evaluate it as a plain
numpy function with :meth:`NeuralField.predict` inside :attr:`region_`.

How it trains (details in :mod:`sysid.neural.train`):

* states are centred and scaled per column, time is scaled so that the
  normalised states move at unit root-mean-square speed; everything the user
  sees is mapped back to user units;
* the field is warm-started on derivatives of smoothing splines, then fitted by
  multiple shooting: windows with learnable start states, a continuity penalty,
  and a curriculum of longer windows;
* irregular, per-trajectory time grids are solved exactly in one batch by
  running each window in its own sample-index time (see
  :mod:`sysid.neural.windows`);
* missing values (NaN states) count in no loss: the misfit is averaged over
  the observed entries, and each state's spline uses its own samples;
* the learning rate halves on plateaus; each stage stops early when the loss on
  held-out samples stops improving; ``max_epochs`` and ``time_limit`` bound the work;
* numerical faults are retried with safer settings, Ctrl-C keeps the best weights;
* inputs (:mod:`sysid.neural.inputs`) enter the network beside the state.

Examples
--------
>>> import numpy as np, sysid
>>> from sysid.neural.field import NeuralField
>>> ds = sysid.simulate("lotka-volterra", n_samples=40, seed=0)
>>> nf = NeuralField(width=16, max_epochs=20, quiet=True).fit(ds)
>>> nf.predict(ds[0].x[:3]).shape
(3, 2)
>>> nf.simulate(ds[0].x[0], ds[0].t).shape
(40, 2)
"""

# Over 600 lines: the one public class of the neural stage, with its numpydoc surface
# (fit, predict, simulate, smoothed, save/load); the work lives in train.py, warmstart.py,
# windows.py, known.py and persist.py.
from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from sysid.core.errors import ConfigError, DataError, SimulationError, SysidWarning, TrainingError
from sysid.core.renamed import renamed_keywords
from sysid.data.dataset import Dataset, load_data
from sysid.neural import persist
from sysid.neural.gradients import loss_and_grads, training_step
from sysid.neural.inputs import check_input_values, fit_input_scaler, inputs_of
from sysid.neural.known import build_field
from sysid.neural.net import integrate_field
from sysid.neural.options import DTYPES, differs, dtype_name, torch_device, validate
from sysid.neural.options import torch_threads as _torch_threads
from sysid.neural.train import FAULTS, Settings, train
from sysid.neural.warmstart import pretrain
from sysid.neural.windows import fit_scaler, holdout_masks, smooth

__all__ = ["NeuralField", "loss_and_grads", "training_step"]


class NeuralField:
    """A neural vector field ``dx/dt = f(x)`` fitted through an ODE solver.

    Parameters
    ----------
    width : int
        Units per hidden layer.
    depth : int
        Number of hidden layers.
    activation : {"tanh", "softplus", "silu", "gelu"}
        Smooth activation of the hidden layers.
    gradient : {"adjoint", "direct"}
        ``"adjoint"``: torchdiffeq's ``odeint_adjoint`` (memory independent of
        the window length); ``"direct"``: backpropagation through the solver.
    solver : str
        torchdiffeq method: fixed-step ``"rk4"``, ``"midpoint"``, ``"euler"``
        or adaptive ``"dopri5"``, ``"bosh3"``, ``"adaptive_heun"``, ``"dopri8"``.
    rtol, atol : float
        Tolerances of adaptive solvers (normalised units).
    max_step : float
        Largest step of fixed-step solvers in normalised time (one normalised
        time unit is roughly the time the system takes to move one standard
        deviation); sets the substeps per sample interval.
    step_tol : float
        At the start of each stage the substeps of a fixed-step solver are
        doubled until halving the step changes no window state by more than
        this (normalised units; step doubling).
    horizons : sequence of float
        Curriculum: window lengths in normalised time, one training stage each.
    max_window : int
        Most sample intervals per window (bounds the cost of a step).
    max_epochs : int
        Total epochs (full passes over all windows) over all stages; 0 keeps
        the spline warm start only.
    time_limit : float
        Wall seconds of the whole :meth:`fit`: a safety net (``timeout`` is its
        old name, still accepted with a DeprecationWarning). The
        default (600 s) is far above a run's usual length, so that
        ``max_epochs`` or convergence ends it and the same seed gives the same
        field however busy the machine is (a binding wall-clock limit makes
        the result depend on the load).
    lr : float
        Initial Adam learning rate of each stage (halved on plateaus).
    patience : int
        Epochs without improvement of the held-out loss that end a stage.
    continuity : float
        Weight of the continuity penalty between consecutive windows.
    pretrain_epochs : int
        Epochs of the warm start on smoothing-spline derivatives (0: none).
    val_fraction : float
        Fraction of samples held out for early stopping (in [0, 0.5)): scattered
        at random (seeded) over each trajectory, never its first sample; they
        are left out of the warm start and of the training loss, and the
        windows' predictions at them give the validation loss.
    seed : int
        Seeds the initial weights and the held-out samples.
    device : str
        torch device, e.g. ``"cpu"`` or ``"cuda"``.
    dtype : torch.dtype
        ``torch.float64`` (default) or ``torch.float32``.
    n_threads : int or None
        torch intra-op threads while fitting (restored afterwards; ``None``
        leaves torch's setting). The networks and batches are small, so one
        thread is fastest and does not fight other processes for cores; run
        several fits in parallel processes instead.
    quiet : bool
        Silence the progress bar (shown on stderr).
    known : dict state -> str, optional
        Known physics, e.g. ``{"x": "alpha*x"}`` (:func:`sysid.core.known.parse_known`,
        checked against the data in :meth:`fit`): the field is ``known(x, u; c) +
        NN(x, u)``, free ``c`` fitted with the network (:mod:`sysid.neural.known`).

    Attributes
    ----------
    states_ : tuple of str
        State names of the training data.
    region_ : (ndarray, ndarray)
        Smallest and largest value of each state in the data: the box where
        the field is trusted.
    history_ : dict of lists
        Per epoch: ``epoch, stage, window, loss, continuity, val_loss`` (mean
        squared error on the held-out samples, normalised units), ``val_se``
        (its standard error), ``lr, substeps, time``; ``events`` lists faults
        and interruptions (dicts with ``epoch, kind, message``).
    status_ : str
        ``"converged"``, ``"max_epochs"``, ``"timeout"``, ``"interrupted"`` or
        ``"fault"``; ``message_`` says more.
    interrupted_ : bool
        True when Ctrl-C ended training (the best weights were kept).
    scaler_ : Scaler
        The normalisation of states and time.
    field_ : torch.nn.Module
        The network, in normalised units.
    fit_time_ : float
        Seconds spent in :meth:`fit`.
    known_coefficients_ : dict or None
        ``(state, term) -> coefficient`` of each known term in user units
        (None without known physics).

    Examples
    --------
    >>> import sysid
    >>> ds = sysid.simulate("pendulum", n_samples=30, seed=0)
    >>> nf = NeuralField(width=8, max_epochs=5, quiet=True).fit(ds)
    >>> nf.status_ in {"converged", "max_epochs", "timeout"}
    True
    >>> len(nf.history_["loss"]) <= 5
    True
    """

    #: Old hyperparameter names -> new ones, still accepted.
    renamed: ClassVar[dict[str, str]] = {"timeout": "time_limit"}

    def __init__(
        self,
        width: int = 64,
        depth: int = 2,
        activation: str = "tanh",
        gradient: str = "adjoint",
        solver: str = "rk4",
        rtol: float = 1e-6,
        atol: float = 1e-8,
        max_step: float = 0.2,
        step_tol: float = 1e-3,
        horizons: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
        max_window: int = 32,
        max_epochs: int = 1000,
        time_limit: float = 600.0,
        lr: float = 2e-3,
        patience: int = 40,
        continuity: float = 1.0,
        pretrain_epochs: int = 500,
        val_fraction: float = 0.1,
        seed: int = 0,
        device: str = "cpu",
        dtype: torch.dtype = torch.float64,
        n_threads: int | None = 1,
        quiet: bool = False,
        known: dict[str, str] | None = None,
        **deprecated: Any,
    ) -> None:
        self.width = width
        self.depth = depth
        self.activation = activation
        self.gradient = gradient
        self.solver = solver
        self.rtol = rtol
        self.atol = atol
        self.max_step = max_step
        self.step_tol = step_tol
        self.horizons = horizons
        self.max_window = max_window
        self.max_epochs = max_epochs
        self.time_limit = renamed_keywords("NeuralField", deprecated, self.renamed).get(
            "time_limit", time_limit
        )
        self.lr = lr
        self.patience = patience
        self.continuity = continuity
        self.pretrain_epochs = pretrain_epochs
        self.val_fraction = val_fraction
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.n_threads = n_threads
        self.quiet = quiet
        self.known = known
        self._validate()  # every option is checked when built, before any training

    # ----------------------------------------------------------- parameters
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters as passed to ``__init__`` (JSON-ready except dtype).

        ``deep`` is scikit-learn's argument (``sklearn.base.clone`` passes it);
        the field holds no nested estimators.
        """
        names = self.__init__.__code__.co_varnames[1 : self.__init__.__code__.co_argcount]
        return {n: getattr(self, n) for n in names}

    def __repr__(self) -> str:
        default = NeuralField()
        changed = {k: v for k, v in self.get_params().items() if differs(v, getattr(default, k))}
        inner = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"NeuralField({inner})"

    def _validate(self) -> Settings:
        """Check every hyperparameter; return the training settings."""
        return validate(self)

    def _torch_device(self) -> torch.device:
        return torch_device(self.device)

    def _torch_dtype(self) -> torch.dtype:
        return DTYPES[dtype_name(self.dtype)]

    # ------------------------------------------------------------------ fit
    def fit(self, data: Any) -> NeuralField:
        """Fit the field to trajectories.

        Parameters
        ----------
        data : Dataset, CSV path, DataFrame or ``(t, x)`` arrays
            Anything :func:`sysid.data.load_data` accepts.

        Returns
        -------
        NeuralField
            ``self``, fitted.

        Raises
        ------
        ConfigError
            A hyperparameter is invalid.
        TrainingError
            Training failed before any epoch succeeded; the error's ``field``
            attribute holds the (warm-started) model and its message names
            remedies.
        """
        t_start = time.perf_counter()
        settings = self._validate()
        ds = load_data(data)
        with _torch_threads(self.n_threads):
            return self._fit(ds, settings, t_start)

    def _fit(self, ds: Dataset, settings: Settings, t_start: float) -> NeuralField:
        device, dtype = self._torch_device(), self._torch_dtype()
        ts = [tr.t for tr in ds]
        xs = [tr.x for tr in ds]
        scaler = fit_scaler(ts, xs)
        taus = [(t - t[0]) / scaler.time_scale for t in ts]
        zs = [scaler.to_z(x) for x in xs]
        self.inputs_ = fit_input_scaler(ds)
        self.scaler_ = scaler
        io = self._inputs_of(ds)
        net = build_field(self, ds.states, scaler, self.inputs_).to(device)
        self.states_ = tuple(ds.states)
        self.n_states_ = ds.n_states
        self.scaler_ = scaler
        self.field_ = net
        lo, hi = ds.bounds()
        self.region_ = (np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64))
        self.train_times_ = [np.asarray(t, dtype=np.float64).copy() for t in ts]
        masks = holdout_masks([len(t) for t in taus], float(self.val_fraction), int(self.seed))
        states, pre_loss, stopped = pretrain(
            net, taus, zs, settings.pretrain_epochs, device, dtype, masks, io
        )
        self.pretrain_loss_ = pre_loss
        if stopped:  # Ctrl-C during the warm start: keep it, skip the ODE fit
            settings.max_epochs = 0
        result = train(
            net, taus, zs, masks, settings, device, dtype, states, t_start=t_start, inputs=io
        )
        if stopped:
            result.interrupted, result.status = True, "interrupted"
            result.message = "interrupted by the user during the warm start"
            result.history["events"].append(
                {"epoch": 0, "kind": "interrupt", "message": result.message}
            )
        self.history_ = result.history
        self.status_ = result.status
        self.message_ = result.message
        self.interrupted_ = result.interrupted
        self.window_ = int(result.windows.m) if result.windows is not None else None
        self.smoothed_ = [scaler.to_x(z) for z in result.states]
        self.n_epochs_ = len(result.history["epoch"])
        self.fit_time_ = time.perf_counter() - t_start
        if result.status == "fault":
            remedies = (
                f"Remedies: lower lr (now {self.lr:g}), use a smaller max_step "
                f"(now {self.max_step:g}) or solver='dopri5', shorten horizons, "
                "or check the data for outliers and wrong units"
            )
            if self.n_epochs_ == 0:
                err = TrainingError(f"neural field training failed: {result.message}. {remedies}")
                err.field = self  # type: ignore[attr-defined]
                raise err from result.extra.get("cause")
            warnings.warn(
                f"neural field: {result.message}; keeping the best weights so far. {remedies}",
                SysidWarning,
                stacklevel=2,
            )
        elif result.interrupted:
            warnings.warn(
                f"neural field: {result.message}; keeping the best weights so far",
                SysidWarning,
                stacklevel=2,
            )
        return self

    # -------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "field_"):
            raise ConfigError(
                "this NeuralField is not fitted yet",
                hint="call fit(data) or NeuralField.load(path)",
            )

    def _as_states(self, x: Any, what: str) -> np.ndarray:
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{what} is not numeric", hint="pass an array of numbers") from None
        if arr.ndim == 0 or arr.shape[-1] != self.n_states_ or arr.ndim > 2:
            raise DataError(
                f"{what} must have shape (n, {self.n_states_}) or ({self.n_states_},) for states "
                f"{list(self.states_)}, found shape {arr.shape}",
                hint="one column per state, in the order of the training data",
            )
        if not np.isfinite(arr).all():
            raise DataError(f"{what} holds NaN or infinite values", hint="pass finite states")
        return arr

    def _inputs_of(self, ds: Dataset) -> Any:
        scaler = getattr(self, "inputs_", None)
        return None if scaler is None else inputs_of(ds, scaler, self.scaler_.time_scale)

    def _g(self, z: np.ndarray, v: np.ndarray | None = None, remainder: bool = False) -> np.ndarray:
        dev = next(self.field_.parameters()).device
        dtype = next(self.field_.parameters()).dtype
        f = self.field_.remainder if remainder else self.field_
        with torch.no_grad():
            zt = torch.as_tensor(z, dtype=dtype, device=dev)
            out = f(zt) if v is None else f(zt, torch.as_tensor(v, dtype=dtype, device=dev))
        return out.cpu().numpy().astype(np.float64)

    @property
    def known_coefficients_(self) -> dict[tuple[str, Any], float] | None:
        self._check_fitted()
        return None if self.field_.known is None else self.field_.known.by_term()

    @property
    def input_names_(self) -> tuple[str, ...]:
        """The inputs the field was fitted with (empty for an autonomous field)."""
        self._check_fitted()
        scaler = getattr(self, "inputs_", None)
        return () if scaler is None else scaler.names

    def predict(self, x: Any, u: Any = None, *, remainder: bool = False) -> np.ndarray:
        """The learned rate ``dx/dt`` at states ``x`` (and inputs ``u``), in user units.

        Parameters
        ----------
        x : array (n, d) or (d,)
            States in the units and column order of the training data.
        u : array (n, k) or (k,), optional
            Input values at those states; required for a field with inputs.
        remainder : bool
            With known physics: the network's part only (the rate minus the
            known terms); without, the whole rate either way.

        Returns
        -------
        ndarray, same shape as ``x``

        Examples
        --------
        >>> import sysid
        >>> ds = sysid.simulate("sir", n_samples=30, seed=0)
        >>> nf = NeuralField(width=8, max_epochs=0, quiet=True).fit(ds)
        >>> nf.predict(ds[0].x[0]).shape
        (3,)
        """
        self._check_fitted()
        arr = self._as_states(x, "x")
        z = self.scaler_.to_z(np.atleast_2d(arr))
        scaler = getattr(self, "inputs_", None)
        uu = check_input_values(u, z.shape[0], scaler, "u")
        v = None if scaler is None else scaler.to_v(uu)
        out = self.scaler_.rate_to_user(self._g(z, v, remainder=remainder))
        return out.reshape(arr.shape)

    __call__ = predict

    def as_function(self) -> Callable[[np.ndarray], np.ndarray]:
        """A plain numpy function ``f(x) -> dx/dt`` (same as :meth:`predict`)."""
        self._check_fitted()

        def f(x: np.ndarray) -> np.ndarray:
            return self.predict(x)

        return f

    def simulate(self, x0: Any, t: Any, inputs: Any = None) -> np.ndarray:
        """Solve ``dx/dt = f(x)`` from ``x0`` and return states at times ``t``.

        Uses torchdiffeq's ``dopri5`` (rtol 1e-8, atol 1e-10 in normalised units).

        Parameters
        ----------
        x0 : array (d,)
            Initial state, user units, at time ``t[0]``.
        t : array (n,)
            Increasing output times.
        inputs : InputSignal, optional
            The inputs over ``t``, for a field with inputs.

        Returns
        -------
        ndarray (n, d)

        Raises
        ------
        SimulationError
            If the solver fails (step underflow, too many steps).
        """
        self._check_fitted()
        x0a = self._as_states(x0, "x0")
        if x0a.ndim != 1:
            raise DataError(f"x0 must be one state of shape ({self.n_states_},), found {x0a.shape}")
        ta = np.asarray(t, dtype=np.float64)
        if ta.ndim != 1 or ta.shape[0] < 1 or not np.isfinite(ta).all():
            raise DataError(f"t must be a 1-D array of finite times, found shape {ta.shape}")
        if ta.shape[0] > 1 and not (np.diff(ta) > 0).all():
            raise DataError("t must be strictly increasing", hint="sort the output times")
        if ta.shape[0] == 1:
            return x0a[None, :].copy()
        p = next(self.field_.parameters())
        z0 = torch.as_tensor(self.scaler_.to_z(x0a), dtype=p.dtype, device=p.device)
        tau = torch.as_tensor(
            (ta - ta[0]) / self.scaler_.time_scale, dtype=p.dtype, device=p.device
        )
        scaler = getattr(self, "inputs_", None)
        if (scaler is None) != (inputs is None):
            raise DataError(f"pass inputs= exactly when the field has inputs {self.input_names_}")
        v_at = None
        if scaler is not None:  # normalised inputs at normalised time s
            t0, ts = float(ta[0]), self.scaler_.time_scale
            v_at = lambda s_: scaler.to_v(inputs(t0 + s_ * ts))  # noqa: E731
        try:
            with torch.no_grad(), _torch_threads(self.n_threads):
                z = integrate_field(self.field_, z0, tau, v_at)
        except FAULTS as err:
            raise SimulationError(
                f"simulating the neural field from x0={x0a.tolist()} failed ({err}). "
                "Remedies: shorten the time span or start inside region_"
            ) from None
        out = self.scaler_.to_x(z.cpu().numpy())
        if not np.isfinite(out).all():
            raise SimulationError(
                f"simulating the neural field from x0={x0a.tolist()} blew up. "
                "Remedies: shorten the time span or start inside region_"
            )
        return out

    def sample_points(self, data: Any) -> np.ndarray:
        """States where the field's derivatives are distilled: the denoised and the data states.

        Rows with a missing value are left out; shape ``(n, d)``, or ``(n, d + k)``
        with each point's inputs after its states for a field with inputs.
        """
        ds = load_data(data)
        smooth = self.smoothed(ds)
        pts = [np.asarray(s, dtype=float) for s in smooth] + [tr.x for tr in ds]
        values = ds.input_values()
        if values is not None:
            pts = [np.hstack([p, u]) for p, u in zip(pts, values + values, strict=True)]
        x = np.concatenate(pts, axis=0)
        return x[np.isfinite(x).all(axis=1)]

    def smoothed(self, data: Any = None) -> list[np.ndarray]:
        """Denoised states: the field's fitted trajectories at the sample times.

        Parameters
        ----------
        data : optional
            ``None`` returns the fitted states of the training trajectories.
            Other data (anything :func:`sysid.data.load_data` accepts) are
            fitted with the field frozen: only each window's start state is
            optimised.

        Returns
        -------
        list of ndarray (n_k, d)
            One array per trajectory, user units.
        """
        self._check_fitted()
        if data is None:
            return [s.copy() for s in self.smoothed_]
        ds = load_data(data)
        if tuple(ds.states) != tuple(self.states_):
            raise DataError(
                f"data have states {list(ds.states)} but the field was fitted on "
                f"{list(self.states_)}",
                hint="pass the same state columns in the same order",
            )
        st = self._validate()
        st.train_field = False
        st.gradient = "direct"
        st.quiet = True
        st.max_epochs = 300
        st.lr = 1e-2
        st.patience = 20
        st.time_limit = max(st.time_limit, 10.0)
        taus = [(tr.t - tr.t[0]) / self.scaler_.time_scale for tr in ds]
        zs = [self.scaler_.to_z(tr.x) for tr in ds]
        st.horizons = (
            float(np.median(np.concatenate([np.diff(t) for t in taus]))) * (self.window_ or 2),
        )
        st.max_window = max(2, self.window_ or 2)
        starts = [smooth(t, z)[0] for t, z in zip(taus, zs, strict=True)]
        masks = [np.zeros(len(t), bool) for t in taus]
        p = next(self.field_.parameters())
        flags = [q.requires_grad for q in self.field_.parameters()]
        for q in self.field_.parameters():
            q.requires_grad_(False)
        try:
            with _torch_threads(self.n_threads):
                io = self._inputs_of(ds)
                res = train(self.field_, taus, zs, masks, st, p.device, p.dtype, starts, inputs=io)
        finally:
            for q, f in zip(self.field_.parameters(), flags, strict=True):
                q.requires_grad_(f)
        return [self.scaler_.to_x(z) for z in res.states]

    # ------------------------------------------------------------ save/load
    def save(self, path: str | os.PathLike) -> None:
        """Save to a folder: ``weights.pt`` (tensors) and ``config.json``.

        The folder holds the state_dict (read back with
        ``torch.load(weights_only=True)``), the hyperparameters, the
        normalisation, the region, the history and the package versions.

        Examples
        --------
        >>> import tempfile, numpy as np, sysid
        >>> ds = sysid.simulate("sir", n_samples=30, seed=0)
        >>> nf = NeuralField(width=8, max_epochs=0, quiet=True).fit(ds)
        >>> folder = tempfile.mkdtemp()
        >>> nf.save(folder)
        >>> back = NeuralField.load(folder)
        >>> bool(np.array_equal(back.predict(ds[0].x), nf.predict(ds[0].x)))
        True
        """
        persist.save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> NeuralField:
        """Load a field saved by :meth:`save` (predictions are reproduced exactly)."""
        return persist.load(cls, path, device)
