"""uni2ts, imported lazily: building, loading and pickling a Moirai network.

uni2ts takes seconds to import and pins old torch/numpy versions, so nothing here imports it
at module level. Pretrained folders are loaded strictly: uni2ts' ``from_pretrained`` (from
huggingface_hub) defaults to ``strict=False``, which leaves missing weights at their random
initial values without a word; :func:`load_pretrained` instead checks ``config.json`` and
every weight name and shape, and names the folder and the problem in a ``ValueError``.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import warnings
from numbers import Integral, Real
from pathlib import Path

__all__ = [
    "INSTALL_HINT",
    "MODEL_SIZES",
    "check_uni2ts",
    "load_pretrained",
    "module_from_state",
    "module_state",
    "moirai_module_class",
    "new_module",
]

INSTALL_HINT = 'pip install --no-deps uni2ts==2.0.0 && pip install "moeids[moirai]"'

#: Transformer width and depth of each ``model_size``. ``small``/``base``/``large`` are the
#: Moirai 1.1-R architectures (uni2ts ``cli/conf/pretrain/model/moirai_*.yaml``); ``tiny`` is
#: for tests and CPU experiments.
MODEL_SIZES = {
    "tiny": {"d_model": 64, "num_layers": 2},
    "small": {"d_model": 384, "num_layers": 6},
    "base": {"d_model": 768, "num_layers": 12},
    "large": {"d_model": 1024, "num_layers": 24},
}
_PATCH_SIZES = (8, 16, 32, 64, 128)
_MAX_SEQ_LEN = 512

# The keys of a MoiraiModule config.json (its __init__ parameters) and a check of each value.
_CONFIG_KEYS = {
    "distr_output": lambda v: isinstance(v, dict) or _is_distribution(v),
    "d_model": lambda v: _positive_int(v),
    "num_layers": lambda v: _positive_int(v),
    "patch_sizes": lambda v: isinstance(v, list | tuple) and v and all(map(_positive_int, v)),
    "max_seq_len": lambda v: _positive_int(v),
    "attn_dropout_p": lambda v: _probability(v),
    "dropout_p": lambda v: _probability(v),
    "scaling": lambda v: isinstance(v, bool),
}
_OPTIONAL_KEYS = {"scaling"}


def _positive_int(v):
    return isinstance(v, Integral) and not isinstance(v, bool) and v > 0


def _probability(v):
    return isinstance(v, Real) and not isinstance(v, bool) and 0 <= v < 1


def _is_distribution(v):
    from uni2ts.distribution import DistributionOutput

    return isinstance(v, DistributionOutput)


def _uni2ts_error():
    return ImportError(
        "MoiraiNLLDetector needs the optional package uni2ts. Install it with:\n"
        f"    {INSTALL_HINT}\n"
        "(uni2ts pins old torch/numpy versions, hence --no-deps and then its real "
        "runtime needs from the moirai extra)."
    )


def check_uni2ts():
    """Fail fast, without importing uni2ts (slow), if it is not installed."""
    try:
        found = importlib.util.find_spec("uni2ts") is not None
    except ValueError:  # sys.modules["uni2ts"] is set but has no spec
        found = False
    if not found:
        raise _uni2ts_error()


def moirai_module_class():
    """uni2ts' ``MoiraiModule``, or ``ImportError`` with the install recipe."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Using `json`-module", category=UserWarning)
            from uni2ts.model.moirai.module import MoiraiModule
    except ImportError as exc:
        raise _uni2ts_error() from exc
    return MoiraiModule


def new_module(model_size, scaling=True):
    """A randomly initialised Moirai 1.1-R style module (distribution mixture included)."""
    MoiraiModule = moirai_module_class()
    from uni2ts.distribution import (
        LogNormalOutput,
        MixtureOutput,
        NegativeBinomialOutput,
        NormalFixedScaleOutput,
        StudentTOutput,
    )

    distr = MixtureOutput(
        components=[
            StudentTOutput(),
            NormalFixedScaleOutput(),
            NegativeBinomialOutput(),
            LogNormalOutput(),
        ]
    )
    return MoiraiModule(
        distr_output=distr,
        patch_sizes=_PATCH_SIZES,
        max_seq_len=_MAX_SEQ_LEN,
        attn_dropout_p=0.0,
        dropout_p=0.0,
        scaling=scaling,
        **MODEL_SIZES[model_size],
    )


def load_pretrained(folder):
    """Build the module a ``save_pretrained`` folder describes and load its weights strictly.

    Parameters
    ----------
    folder : str or path-like
        Holds ``config.json`` and ``model.safetensors``.

    Returns
    -------
    module : MoiraiModule
        In eval mode, on the CPU.
    """
    folder = Path(folder)
    where = f"pretrained={str(folder)!r}"
    missing = [f for f in ("config.json", "model.safetensors") if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{where} must be a folder with config.json and model.safetensors (as written by "
            f"save_pretrained); missing {missing}"
        )
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: config.json is not valid JSON ({exc})") from exc
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        weights = load_file(folder / "model.safetensors")
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"{where}: model.safetensors cannot be read ({exc})") from exc
    return module_from_state({"config": config, "weights": weights}, where)


def module_state(module):
    """Picklable form of a MoiraiModule (its distribution head holds lambdas)."""
    weights = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    return {"config": copy.deepcopy(module._hub_mixin_config), "weights": weights}


def module_from_state(state, source="the pickled detector"):
    """The MoiraiModule of :func:`module_state` (or of a pretrained folder), checked strictly.

    A config that lacks keys, has unknown ones or holds bad values, and weights whose names
    or shapes differ from the architecture's raise ``ValueError`` naming ``source``.
    """
    config = _checked_config(state["config"], source)
    try:
        module = moirai_module_class()(**config)
    except (AssertionError, TypeError, ValueError, RuntimeError) as exc:  # uni2ts asserts
        raise ValueError(
            f"{source}: config.json describes no valid MoiraiModule "
            f"({type(exc).__name__}: {exc or 'a uni2ts assertion, e.g. d_model under 64'})"
        ) from exc
    _load_weights_strictly(module, state["weights"], source)
    return module.eval()


def _checked_config(config, source):
    if not isinstance(config, dict):
        raise ValueError(f"{source}: config.json must hold a JSON object, got {config!r:.80}")
    missing = sorted(set(_CONFIG_KEYS) - _OPTIONAL_KEYS - set(config))
    unknown = sorted(set(config) - set(_CONFIG_KEYS))
    if missing or unknown:
        raise ValueError(
            f"{source}: config.json is not a MoiraiModule config: missing keys {missing}, "
            f"unknown keys {unknown}"
        )
    bad = [k for k, check in _CONFIG_KEYS.items() if k in config and not check(config[k])]
    if bad:
        raise ValueError(f"{source}: config.json has an invalid {bad[0]!r}: {config[bad[0]]!r}")
    config = dict(config, patch_sizes=tuple(config["patch_sizes"]))
    if isinstance(config["distr_output"], dict):
        from uni2ts.model.moirai.module import decode_distr_output

        try:
            config["distr_output"] = decode_distr_output(config["distr_output"])
        except Exception as exc:  # hydra wraps every failure in its own exception types
            raise ValueError(
                f"{source}: config.json has an invalid 'distr_output' ({exc})"
            ) from exc
    return config


def _load_weights_strictly(module, weights, source):
    expected = module.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{source}: the weights do not match config.json: {len(missing)} missing "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    for name, tensor in expected.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise ValueError(
                f"{source}: the weights do not match config.json: {name!r} has shape "
                f"{tuple(weights[name].shape)}, the architecture needs {tuple(tensor.shape)}"
            )
    module.load_state_dict(weights, strict=True)
