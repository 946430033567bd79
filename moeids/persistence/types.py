"""The types a moeids model file may hold, and how their torch networks are rebuilt.

Loading imports only the classes named in :data:`SUPPORTED_TYPES` (an allow-list); any
other type name in a file is refused. An estimator's network (an ``nn.Module`` in one of
its ``_torch_modules`` attributes) is stored as its ``state_dict`` plus, where the
estimator cannot rebuild it from its own fitted attributes, a JSON config.
"""

from __future__ import annotations

from importlib import import_module

import torch

__all__ = ["SUPPORTED_TYPES", "supported_class", "type_name", "module_config", "build_module"]

#: Public name -> (module, attribute) of every estimator type a model file may hold.
SUPPORTED_TYPES = {
    "moeids.FeatureSplitter": ("moeids.features", "FeatureSplitter"),
    "moeids.MoEClassifier": ("moeids.moe", "MoEClassifier"),
    "moeids.FlowWindower": ("moeids.moirai", "FlowWindower"),
    "moeids.MoiraiNLLDetector": ("moeids.moirai", "MoiraiNLLDetector"),
    "sklearn.pipeline.Pipeline": ("sklearn.pipeline", "Pipeline"),
    "sklearn.model_selection.FixedThresholdClassifier": (
        "sklearn.model_selection",
        "FixedThresholdClassifier",
    ),
    "sklearn.frozen.FrozenEstimator": ("sklearn.frozen", "FrozenEstimator"),
}


def supported_class(name: str) -> type:
    """The class of an allow-listed type name; ValueError naming any other name."""
    if name not in SUPPORTED_TYPES:
        raise ValueError(
            f"refusing type {name!r}: a model file may hold only {sorted(SUPPORTED_TYPES)}"
        )
    module, attribute = SUPPORTED_TYPES[name]
    return getattr(import_module(module), attribute)


def type_name(obj) -> str | None:
    """The allow-listed name of ``obj``'s exact type (subclasses excluded), else None."""
    for name in SUPPORTED_TYPES:
        if type(obj) is supported_class(name):
            return name
    return None


# ---------------------------------------------------------------- torch networks
def module_config(name: str, estimator, module: torch.nn.Module):
    """JSON-ready config needed to rebuild ``module`` (None when the estimator can)."""
    if name == "moeids.MoEClassifier":
        return None  # MoEClassifier._build_network() rebuilds it from the fitted attributes
    if name == "moeids.MoiraiNLLDetector":
        from uni2ts.model.moirai.module import encode_distr_output

        config = dict(module._hub_mixin_config)
        if not isinstance(config["distr_output"], dict):
            config["distr_output"] = encode_distr_output(config["distr_output"])
        return config
    raise TypeError(f"{name} has no stored form for its torch network")


def build_module(name: str, estimator, config) -> torch.nn.Module:
    """A freshly built (untrained) network of the right shape for ``estimator``."""
    if name == "moeids.MoEClassifier":
        return estimator._build_network()
    if name == "moeids.MoiraiNLLDetector":
        from moeids.moirai._uni2ts import moirai_module_class

        module_class = moirai_module_class()  # ImportError naming the moirai extra
        from uni2ts.model.moirai.module import decode_distr_output

        config = dict(config)
        _check_distr_output(config["distr_output"])
        config["distr_output"] = decode_distr_output(config["distr_output"])
        config["patch_sizes"] = tuple(config["patch_sizes"])
        return module_class(**config)
    raise ValueError(f"{name} holds no torch network")


def _check_distr_output(config) -> None:
    """Refuse a distribution config that would make hydra import anything but uni2ts'
    distribution outputs (``_target_`` names a class to import and call)."""
    from uni2ts import distribution
    from uni2ts.distribution import DistributionOutput

    if not isinstance(config, dict):
        raise ValueError(f"distr_output config must be a dict, got {config!r}")
    target = config.get("_target_")
    cls = getattr(distribution, str(target).rpartition(".")[2], None)
    if (
        not isinstance(cls, type)
        or not issubclass(cls, DistributionOutput)
        or target != f"{cls.__module__}.{cls.__qualname__}"
    ):
        raise ValueError(f"refusing distribution output {target!r}: not one of uni2ts'")
    for key, value in config.items():
        if key.startswith("_") and key != "_target_":
            raise ValueError(f"refusing distribution option {key!r}")
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, dict):
                _check_distr_output(item)
            elif key != "_target_" and not isinstance(item, bool | int | float | str | None):
                raise ValueError(f"refusing distribution option {key}={item!r}")
