"""The MLP vector field and the batched window solve of :mod:`sysid.neural`.

Examples
--------
>>> import torch
>>> g = torch.Generator().manual_seed(0)
>>> f = VectorField(2, width=8, depth=2, activation="tanh", generator=g)
>>> f(torch.zeros(5, 2, dtype=torch.float64)).shape
torch.Size([5, 2])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

__all__ = [
    "integrate_field",
    "ACTIVATIONS",
    "FIXED_SOLVERS",
    "ADAPTIVE_SOLVERS",
    "VectorField",
    "WindowDynamics",
    "solve_windows",
]

#: Smooth activations by name (a field should be differentiable for distillation).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}
#: torchdiffeq solvers on a fixed grid (``substeps`` steps per sample interval).
FIXED_SOLVERS = ("rk4", "midpoint", "euler")
#: torchdiffeq solvers with error control (``rtol``, ``atol``).
ADAPTIVE_SOLVERS = ("dopri5", "bosh3", "adaptive_heun", "dopri8")


class VectorField(nn.Module):
    """A vector field ``g(z)``, or ``g(z, v)`` with inputs ``v``: a multilayer perceptron.

    Parameters
    ----------
    n_states : int
        Dimension of the state.
    n_inputs : int
        Number of exogenous inputs, fed to the network beside the state.
    width, depth : int
        Units per hidden layer and number of hidden layers.
    activation : str
        A key of :data:`ACTIVATIONS`.
    generator : torch.Generator
        Source of the initial weights (the global torch seed is not touched).
    dtype : torch.dtype
        Floating point type of the weights.
    known : nn.Module, optional
        Known physics (:class:`~sysid.neural.known.KnownPart`): the field is
        then ``known(z, v) + MLP(z, v)`` and the MLP learns the remainder.

    Notes
    -----
    Hidden layers start with Glorot-uniform weights and zero biases; the output
    layer starts small so the initial field is gentle.
    """

    def __init__(
        self,
        n_states: int,
        width: int,
        depth: int,
        activation: str,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float64,
        n_inputs: int = 0,
        known: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.n_inputs = int(n_inputs)
        self.known = known
        sizes = [n_states + self.n_inputs] + [width] * depth + [n_states]
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            lin = nn.Linear(sizes[i], sizes[i + 1], dtype=dtype)
            bound = math.sqrt(6.0 / (sizes[i] + sizes[i + 1]))
            if i == len(sizes) - 2:
                bound *= 0.1
            with torch.no_grad():
                lin.weight.copy_(
                    (torch.rand(lin.weight.shape, generator=generator, dtype=dtype) * 2 - 1) * bound
                )
                lin.bias.zero_()
            layers.append(lin)
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        """The rate ``dz/dtau`` at states ``z`` (..., d) and inputs ``v`` (..., k)."""
        out = self.remainder(z, v)
        return out if self.known is None else out + self.known(z, v)

    def remainder(self, z: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        """The network's part of the rate (all of it without known physics)."""
        if self.n_inputs:
            if v is None:
                raise ValueError(f"this field needs {self.n_inputs} input(s)")
            return self.net(torch.cat([z, v], dim=-1))
        return self.net(z)


class WindowDynamics(nn.Module):
    """Right-hand side ``dz/ds = tau'(s) g(z)`` of a batch of windows.

    ``coef`` (3, m, B) holds ``tau'`` on each unit interval of ``s`` as
    ``a + b u + c u**2`` (see :mod:`sysid.neural.windows`); the field's
    parameters are the only parameters of this module. ``inputs`` (B, m*r+1, k)
    holds each window's inputs at ``r`` evenly spaced points per unit of ``s``
    (``r = 1``: at its sample points), read linearly in ``s`` between them,
    whatever the data's interpolation: a held (stepped) input would put a
    step on the last stage of every fixed step and force tiny steps, and the
    field is a smoother, not the answer (the refit reads the inputs as given).
    """

    def __init__(
        self,
        field: VectorField,
        coef: torch.Tensor,
        inputs: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.field = field
        self.register_buffer("coef", coef, persistent=False)
        self.register_buffer("inputs", inputs, persistent=False)
        self.m = int(coef.shape[1])
        self.per_unit = 1 if inputs is None else (int(inputs.shape[1]) - 1) // self.m
        self.n_evals = 0

    def forward(self, s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Rate of each window's state at sample-index time ``s``."""
        self.n_evals += 1
        i = torch.clamp(torch.floor(s.detach()), 0, self.m - 1)
        u = s - i
        a, b, c = self.coef[:, i.long()]
        rate = a + u * (b + u * c)
        if self.inputs is None:
            return rate.unsqueeze(-1) * self.field(z)
        q = s * self.per_unit  # per_unit = 1: q is s, the reading interval is i, w is u
        jf = torch.clamp(torch.floor(q.detach()), 0, self.m * self.per_unit - 1)
        j, w = jf.long(), q - jf
        left = self.inputs[:, j]
        v = left + w * (self.inputs[:, j + 1] - left)
        return rate.unsqueeze(-1) * self.field(z, v)


def _integer_grid(substeps: int):
    """A torchdiffeq grid constructor with exactly ``substeps`` steps per unit time.

    Grid points are ``t0 + j / substeps``; integers are hit exactly, so every
    sample time is a grid point and needs no interpolation.
    """

    def grid(func, y0, t):  # noqa: ARG001 - torchdiffeq's signature
        t0, t1 = float(t[0]), float(t[-1])
        n = int(round(abs(t1 - t0) * substeps))
        j = torch.arange(n + 1, dtype=t.dtype, device=t.device) / substeps
        g = t0 + math.copysign(1.0, t1 - t0) * j
        g[-1] = t[-1]
        return g

    return grid


def solve_windows(
    dynamics: WindowDynamics,
    y0: torch.Tensor,
    *,
    gradient: str = "adjoint",
    solver: str = "rk4",
    substeps: int = 1,
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> torch.Tensor:
    """Solve all windows from their start states ``y0`` (B, d).

    Returns
    -------
    Tensor (B, m+1, d)
        States at the sample-index times ``s = 0, 1, ..., m``.
    """
    m = dynamics.m
    s = torch.arange(m + 1, dtype=y0.dtype, device=y0.device)
    kw: dict = {"method": solver}
    if solver in FIXED_SOLVERS:
        kw["options"] = {"grid_constructor": _integer_grid(int(substeps))}
    else:
        kw["rtol"], kw["atol"] = rtol, atol
    if gradient == "adjoint":
        params = tuple(p for p in dynamics.field.parameters() if p.requires_grad)
        if solver in ADAPTIVE_SOLVERS:
            kw["adjoint_options"] = {"norm": "seminorm"}
        z = odeint_adjoint(dynamics, y0, s, adjoint_params=params, **kw)
    else:
        z = odeint(dynamics, y0, s, **kw)
    return z.transpose(0, 1)


def integrate_field(
    field: VectorField,
    z0: torch.Tensor,
    tau: torch.Tensor,
    v_at: Callable[[float], np.ndarray] | None = None,
) -> torch.Tensor:
    """Solve ``dz/dtau = g(z)`` (or ``g(z, v(tau))``) from ``z0`` with dopri5, rtol 1e-8."""

    def rhs(s_: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if v_at is None:
            return field(z)
        return field(z, torch.as_tensor(v_at(float(s_)), dtype=z.dtype, device=z.device))

    return odeint(
        rhs, z0, tau, method="dopri5", rtol=1e-8, atol=1e-10, options={"max_num_steps": 200_000}
    )
