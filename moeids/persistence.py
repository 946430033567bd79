"""Pickling fitted torch estimators across devices.

A fitted estimator keeps its network in ``module_`` on ``device_``. Pickles (joblib,
``pickle``, ``copy.deepcopy``, sklearn's ``clone`` of fitted params) always hold CPU
tensors, so a model trained on a GPU loads on a machine without one. On load the network
goes back to ``device_`` when that device exists there, else to the CPU with a warning
and ``device_`` updated.
"""

from __future__ import annotations

import copy
import warnings

import torch


class DeviceFallbackWarning(UserWarning):
    """A model saved on an accelerator was loaded on the CPU because it is absent."""


def _device_available(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return torch.backends.mps.is_available()
    return device.type == "cpu"


def usable_device(device: torch.device, owner: str) -> torch.device:
    """``device`` when it exists here, else the CPU with a :class:`DeviceFallbackWarning`."""
    if _device_available(device):
        return device
    warnings.warn(
        f"{owner} was fitted on {device}, which is not available here; it is loaded on the CPU.",
        DeviceFallbackWarning,
        stacklevel=3,
    )
    return torch.device("cpu")


class TorchPickleMixin:
    """Mixin for estimators whose fitted network lives in ``module_`` on ``device_``."""

    _torch_modules = ("module_",)

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: the default state *is* self.__dict__
        for name in self._torch_modules:
            module = state.get(name)
            if module is not None and any(
                t.device.type != "cpu" for t in [*module.parameters(), *module.buffers()]
            ):
                state[name] = copy.deepcopy(module).cpu()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        device = state.get("device_")
        if device is None:
            return
        device = self.device_ = usable_device(device, type(self).__name__)
        for name in self._torch_modules:
            module = getattr(self, name, None)
            if module is not None:
                module.to(device)
