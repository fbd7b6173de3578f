"""The known part of a hybrid neural field: ``known(x, u; c)`` beside the network.

With known physics (:mod:`sysid.core.known`) the field is
``known(x, u; c) + NN(x, u)``: :class:`KnownPart` evaluates the known terms in
torch, in the network's normalised units, with the coefficients ``c`` of
free constants as parameters fitted jointly with the network's weights (those
of fixed terms are held). Each term is divided by
its root-mean-square size on the data (``norms``), so the parameters the
optimiser sees are of order one whatever the units.

Examples
--------
>>> import numpy as np, torch
>>> from sysid.core.known import parse_known
>>> from sysid.neural.windows import Scaler
>>> k = parse_known({"x": "a*x"}, ["x"])
>>> part = KnownPart(k, Scaler(np.zeros(1), np.ones(1), 1.0), None, torch.float64)
>>> part.set_coefficients(np.array([2.0]))
>>> part(torch.tensor([[3.0]], dtype=torch.float64)).tolist()
[[6.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy as sp
import torch
from torch import nn

from sysid.core.expressions import state_symbols
from sysid.core.known import KnownPhysics, parse_known
from sysid.neural.inputs import InputScaler
from sysid.neural.net import VectorField
from sysid.neural.windows import Scaler

__all__ = ["KnownPart", "build_field"]


def build_field(
    nf: Any, states: Sequence[str], scaler: Scaler, inputs: InputScaler | None
) -> VectorField:
    """The untrained network of ``nf`` (a NeuralField), with its known part if it has one.

    Raises a :class:`~sysid.core.errors.ConfigError` when ``nf.known`` does
    not fit the states and inputs (checked before any training).
    """
    names = () if inputs is None else inputs.names
    known = parse_known(nf.known, states, names, source="NeuralField(known=...)")
    dtype = nf._torch_dtype()
    part = None if known is None else KnownPart(known, scaler, inputs, dtype)
    gen = torch.Generator().manual_seed(int(nf.seed))
    return VectorField(
        len(states), int(nf.width), int(nf.depth), nf.activation, gen, dtype, len(names), part
    )


class KnownPart(nn.Module):
    """Known terms with fitted coefficients, as a rate ``dz/dtau`` in normalised units.

    Parameters
    ----------
    known : KnownPhysics
        The checked known terms.
    scaler : Scaler
        The states' and time's normalisation of the field.
    inputs : InputScaler or None
        The inputs' normalisation (None for an autonomous field).
    dtype : torch.dtype
    """

    def __init__(
        self, known: KnownPhysics, scaler: Scaler, inputs: InputScaler | None, dtype: torch.dtype
    ) -> None:
        super().__init__()
        self.known = known
        args = state_symbols([*known.states, *known.inputs])
        self._columns = [sp.lambdify(args, t.term, modules="torch") for t in known.terms]
        self.eq = [known.states.index(t.state) for t in known.terms]
        n = len(known.terms)
        self.weight = nn.Parameter(torch.zeros(n, dtype=dtype))
        self.register_buffer("norms", torch.ones(n, dtype=dtype))
        free = [not t.fixed for t in known.terms]
        self.register_buffer("free", torch.tensor(free, dtype=torch.bool), persistent=False)
        held = [0.0 if f else t.sign for f, t in zip(free, known.terms, strict=True)]
        self.register_buffer("held", torch.tensor(held, dtype=dtype), persistent=False)
        rate = scaler.time_scale / np.asarray(scaler.scale, dtype=np.float64)
        self.register_buffer("mean", torch.as_tensor(scaler.mean, dtype=dtype), persistent=False)
        self.register_buffer("scale", torch.as_tensor(scaler.scale, dtype=dtype), persistent=False)
        self.register_buffer("rate", torch.as_tensor(rate[self.eq], dtype=dtype), persistent=False)
        has_inputs = inputs is not None
        self.register_buffer(
            "u_mean",
            torch.as_tensor(inputs.mean if has_inputs else np.zeros(0), dtype=dtype),
            persistent=False,
        )
        self.register_buffer(
            "u_scale",
            torch.as_tensor(inputs.scale if has_inputs else np.zeros(0), dtype=dtype),
            persistent=False,
        )
        self.d = len(known.states)

    def columns(self, z: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        """Each term's contribution per unit coefficient, normalised units: (..., n)."""
        x = z * self.scale + self.mean
        values = list(x.unbind(-1))
        if v is not None and self.u_mean.numel():
            values += list((v * self.u_scale + self.u_mean).unbind(-1))
        cols = [torch.as_tensor(f(*values), dtype=z.dtype, device=z.device) for f in self._columns]
        cols = [c.expand(z.shape[:-1]) for c in cols]
        return torch.stack(cols, dim=-1) * self.rate

    def forward(self, z: torch.Tensor, v: torch.Tensor | None = None) -> torch.Tensor:
        """The known rate ``dz/dtau`` at ``z`` (..., d): shape (..., d)."""
        contrib = self.columns(z, v) * self._coefficients()
        out = torch.zeros((*z.shape[:-1], self.d), dtype=z.dtype, device=z.device)
        return out.index_add(-1, torch.as_tensor(self.eq, device=z.device), contrib)

    def _coefficients(self) -> torch.Tensor:
        """User-unit coefficients: the fitted ones and the held numbers of fixed terms."""
        return torch.where(self.free, self.weight / self.norms, self.held)

    def start(self, z: torch.Tensor, v: torch.Tensor | None, rates: torch.Tensor) -> None:
        """Set the norms on samples ``z`` and the coefficients by least squares on ``rates``.

        ``rates`` (n, d) are derivative estimates (the warm start's spline
        derivatives) in normalised units; each equation's known columns are
        fitted to its rates (less its fixed terms) alone, the rest is left
        to the network.
        """
        with torch.no_grad():
            cols = self.columns(z, v)
            norms = cols.pow(2).mean(dim=0).sqrt()
            norms = torch.where(torch.isfinite(norms) & (norms > 0), norms, torch.ones_like(norms))
            self.norms.copy_(norms)
            weight = torch.zeros_like(self.weight)
            free = self.free.cpu().numpy()
            for i in range(self.d):
                mine = [k for k, e in enumerate(self.eq) if e == i and free[k]]
                held = [k for k, e in enumerate(self.eq) if e == i and not free[k]]
                if not mine:
                    continue
                a = (cols[:, mine] / norms[mine]).cpu().numpy()
                b = (rates[:, i] - (cols[:, held] * self.held[held]).sum(dim=-1)).cpu().numpy()
                ok = np.isfinite(a).all(axis=1) & np.isfinite(b)
                if ok.sum() < len(mine):
                    continue
                b = b[ok]
                sol = np.linalg.lstsq(a[ok], b, rcond=None)[0]
                weight[mine] = torch.as_tensor(sol, dtype=weight.dtype, device=weight.device)
            self.weight.copy_(weight)

    def coefficients(self) -> np.ndarray:
        """The terms' coefficients in user units (the order of ``known.terms``)."""
        with torch.no_grad():
            return self._coefficients().cpu().numpy().astype(np.float64)

    def by_term(self) -> dict[tuple[str, sp.Expr], float]:
        """``(state, term) -> coefficient`` of each known term, in user units."""
        coef = self.coefficients()
        return {(t.state, t.term): float(c) for t, c in zip(self.known.terms, coef, strict=True)}

    def set_coefficients(self, coefficients: Any) -> None:
        """Set the free terms' coefficients (user units; those of fixed terms are ignored)."""
        c = torch.as_tensor(np.asarray(coefficients, dtype=np.float64), dtype=self.weight.dtype)
        with torch.no_grad():
            self.weight.copy_(c.to(self.weight.device) * self.norms)
