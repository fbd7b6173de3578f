"""Saving and loading a fitted :class:`sysid.neural.field.NeuralField`.

A saved field is a folder with ``weights.pt`` (the tensors, read back with
``torch.load(weights_only=True)``) and ``config.json`` (hyperparameters,
normalisation, region, history, package versions).

Examples
--------
>>> import tempfile, numpy as np, sysid
>>> from sysid.neural.field import NeuralField
>>> ds = sysid.simulate("sir", n_samples=30, seed=0)
>>> nf = NeuralField(width=8, max_epochs=0, quiet=True).fit(ds)
>>> folder = tempfile.mkdtemp()
>>> save(nf, folder)
>>> back = load(NeuralField, folder)
>>> bool(np.array_equal(back.predict(ds[0].x), nf.predict(ds[0].x)))
True
"""

from __future__ import annotations

import json
import math
import numbers
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sysid.core.errors import ConfigError
from sysid.neural.inputs import InputScaler
from sysid.neural.known import build_field
from sysid.neural.options import DTYPES, dtype_name
from sysid.neural.windows import Scaler

if TYPE_CHECKING:
    from sysid.neural.field import NeuralField

__all__ = ["save", "load"]

_FORMAT = "sysid.NeuralField"
_FORMAT_VERSION = 1


def save(nf: NeuralField, path: str | os.PathLike) -> None:
    """Write ``nf`` to ``path``: see :meth:`NeuralField.save`."""
    nf._check_fitted()
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    params = nf.get_params()
    params["dtype"] = dtype_name(nf.dtype)
    params["horizons"] = [float(h) for h in nf.horizons]
    config = {
        "format": _FORMAT,
        "format_version": _FORMAT_VERSION,
        "params": params,
        "states": list(nf.states_),
        "scaler": nf.scaler_.to_dict(),
        "inputs": None if getattr(nf, "inputs_", None) is None else nf.inputs_.to_dict(),
        "region": [[float(v) for v in nf.region_[0]], [float(v) for v in nf.region_[1]]],
        "status": nf.status_,
        "message": nf.message_,
        "interrupted": bool(nf.interrupted_),
        "window": nf.window_,
        "pretrain_loss": _json_float(nf.pretrain_loss_),
        "fit_time": float(nf.fit_time_),
        "train_times": [[float(v) for v in t] for t in nf.train_times_],
        "history": _json_ready(nf.history_),
        "versions": _versions(),
    }
    tensors = {
        "field": {k: v.detach().cpu() for k, v in nf.field_.state_dict().items()},
        "smoothed": [torch.as_tensor(s) for s in nf.smoothed_],
    }
    torch.save(tensors, folder / "weights.pt")
    (folder / "config.json").write_text(json.dumps(config, indent=1))


def load(cls: type[NeuralField], path: str | os.PathLike, device: str = "cpu") -> NeuralField:
    """Read a field written by :func:`save` as an instance of ``cls``."""
    folder = Path(path)
    cfg_path, w_path = folder / "config.json", folder / "weights.pt"
    if not cfg_path.is_file() or not w_path.is_file():
        raise ConfigError(
            "not a saved NeuralField (config.json and weights.pt are needed)",
            source=str(folder),
            hint="pass the folder given to NeuralField.save",
        )
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"config.json is not valid JSON ({err})", source=str(folder)) from None
    if cfg.get("format") != _FORMAT or cfg.get("format_version", 0) > _FORMAT_VERSION:
        raise ConfigError(
            f"unsupported format {cfg.get('format')!r} version {cfg.get('format_version')!r}",
            source=str(cfg_path),
            hint="save it again with this version of sysid",
        )
    params = dict(cfg["params"])
    params["dtype"] = DTYPES[params["dtype"]]
    params["horizons"] = tuple(params["horizons"])
    params["device"] = device
    for old, new in cls.renamed.items():  # files saved before a hyperparameter was renamed
        if old in params:
            params[new] = params.pop(old)
    obj = cls(**params)
    obj._validate()
    tensors = torch.load(w_path, weights_only=True, map_location=obj._torch_device())
    n = len(cfg["states"])
    inputs = cfg.get("inputs")
    obj.inputs_ = None if inputs is None else InputScaler.from_dict(inputs)
    scaler = Scaler.from_dict(cfg["scaler"])
    net = build_field(obj, tuple(cfg["states"]), scaler, obj.inputs_)
    net.load_state_dict(tensors["field"])
    obj.field_ = net.to(obj._torch_device())
    obj.states_ = tuple(cfg["states"])
    obj.n_states_ = n
    obj.scaler_ = scaler
    obj.region_ = (np.asarray(cfg["region"][0]), np.asarray(cfg["region"][1]))
    obj.status_ = cfg["status"]
    obj.message_ = cfg["message"]
    obj.interrupted_ = bool(cfg["interrupted"])
    obj.window_ = cfg["window"]
    obj.pretrain_loss_ = _from_json_float(cfg["pretrain_loss"])
    obj.fit_time_ = float(cfg["fit_time"])
    obj.train_times_ = [np.asarray(t, dtype=np.float64) for t in cfg["train_times"]]
    obj.history_ = cfg["history"]
    obj.n_epochs_ = len(obj.history_.get("epoch", []))
    obj.smoothed_ = [s.cpu().numpy().astype(np.float64) for s in tensors["smoothed"]]
    obj.versions_ = cfg.get("versions", {})
    return obj


def _json_float(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _from_json_float(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _json_ready(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_ready(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (numbers.Integral, np.integer)):
        return int(obj)
    if isinstance(obj, (numbers.Real, np.floating)):
        return _json_float(obj)
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


def _versions() -> dict[str, str]:
    import scipy
    import torchdiffeq

    from sysid.core.version import __version__

    return {
        "sysid": __version__,
        "torch": torch.__version__,
        "torchdiffeq": getattr(torchdiffeq, "__version__", "unknown"),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "python": platform.python_version(),
    }
