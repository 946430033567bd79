"""Pickles: fitted torch estimators across devices, and refusing pickles on load.

A fitted estimator keeps its network in ``module_`` on ``device_``. Pickles (joblib,
``pickle``, ``copy.deepcopy``, sklearn's ``clone`` of fitted params) always hold CPU
tensors, so a model trained on a GPU loads on a machine without one. On load the network
goes back to ``device_`` when that device exists there, else to the CPU with a warning
and ``device_`` updated. :func:`load_pickle` is how ``moeids.load`` treats a pickle: refused
unless the caller allows it, because loading one runs whatever code it holds.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch


class DeviceFallbackWarning(UserWarning):
    """A model saved on an accelerator was loaded on the CPU because it is absent.

    Examples
    --------
    >>> import warnings
    >>> import torch
    >>> from moeids.persistence import DeviceFallbackWarning, usable_device
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     device = usable_device(torch.device("cuda", 99), "MoEClassifier")
    >>> device, caught[0].category is DeviceFallbackWarning
    (device(type='cpu'), True)
    """


def _device_available(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return torch.backends.mps.is_available()
    return device.type == "cpu"


def usable_device(device: torch.device, owner: str) -> torch.device:
    """``device`` when it exists here, else the CPU with a :class:`DeviceFallbackWarning`.

    Parameters
    ----------
    device : torch.device
        Where a network was fitted.
    owner : str
        What is being loaded, named in the warning (e.g. ``"MoEClassifier"``).

    Returns
    -------
    device : torch.device
        ``device``, or ``torch.device("cpu")`` when ``device`` is absent here.

    Examples
    --------
    >>> import warnings
    >>> import torch
    >>> from moeids.persistence import DeviceFallbackWarning, usable_device
    >>> usable_device(torch.device("cpu"), "MoEClassifier")
    device(type='cpu')
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     usable_device(torch.device("cuda", 99), "MoEClassifier")  # no 100th GPU here
    device(type='cpu')
    >>> caught[0].category is DeviceFallbackWarning
    True
    """
    if _device_available(device):
        return device
    warnings.warn(
        f"{owner} was fitted on {device}, which is not available here; it is loaded on the CPU.",
        DeviceFallbackWarning,
        stacklevel=3,
    )
    return torch.device("cpu")


class TorchPickleMixin:
    """Mixin for estimators whose fitted network lives in ``module_`` on ``device_``.

    Pickling moves the networks named in ``_torch_modules`` to the CPU (the estimator
    itself is left where it is); unpickling puts them on ``device_`` when that device
    exists here, else on the CPU with a :class:`DeviceFallbackWarning`.

    Examples
    --------
    >>> import pickle
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> from moeids.persistence import TorchPickleMixin
    >>> flows = load_sample()
    >>> Z = FeatureSplitter().fit_transform(flows.data.iloc[::10])
    >>> model = MoEClassifier(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0,
    ...                       refit_epochs=0, random_state=0).fit(Z, flows.target.iloc[::10])
    >>> isinstance(model, TorchPickleMixin)
    True
    >>> again = pickle.loads(pickle.dumps(model))
    >>> again.device_ == model.device_, next(again.module_.parameters()).device == model.device_
    (True, True)
    """

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


class PickleLoadWarning(UserWarning):
    """A model was loaded from a pickle (joblib) file, which can run code when loaded.

    Examples
    --------
    >>> import os, tempfile, warnings
    >>> import joblib
    >>> import moeids
    >>> from moeids.datasets import load_sample
    >>> from moeids.persistence import PickleLoadWarning
    >>> splitter = moeids.FeatureSplitter().fit(load_sample().data.iloc[:50])
    >>> path = joblib.dump(splitter, os.path.join(tempfile.mkdtemp(), "splitter.joblib"))[0]
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     again = moeids.load(path, allow_pickle=True)  # only for a file you trust
    >>> caught[0].category is PickleLoadWarning
    True
    """


# Leading bytes of pickles (protocol 2+) and of joblib's compressed files (zlib, gzip,
# bz2, xz, lzma, lz4); plus the usual file suffixes of both.
_PICKLE_MAGIC = (
    *(bytes([0x80, protocol]) for protocol in range(2, 6)),  # pickle protocols 2-5
    *(bytes([0x78, level]) for level in (0x01, 0x5E, 0x9C, 0xDA)),  # zlib
    b"\x1f\x8b",  # gzip
    b"BZh",  # bz2
    b"\xfd7zXZ",  # xz
    b"\x5d\x00\x00",  # lzma
    b"\x04\x22M\x18",  # lz4
)
_PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".sav", ".pck"}


def looks_like_pickle(path, head: bytes) -> bool:
    """Whether a file with these leading bytes is a pickle or a joblib file."""
    return head.startswith(_PICKLE_MAGIC) or Path(path).suffix.lower() in _PICKLE_SUFFIXES


def load_pickle(path, *, allow_pickle: bool):
    """``joblib.load(path)`` with a warning when ``allow_pickle``, else a ValueError."""
    if not allow_pickle:
        raise ValueError(
            f"{path} is a pickle/joblib file, and loading a pickle runs whatever code it "
            "contains; moeids.load refuses it. Pass allow_pickle=True only for a file from a "
            "source you trust, and re-save it with moeids.save(model, path) (pickle-free)."
        )
    import joblib

    warnings.warn(
        f"loading the pickle {path}: a pickle can run code when it is loaded; load only "
        "files you trust, and prefer moeids.save/moeids.load (pickle-free)",
        PickleLoadWarning,
        stacklevel=3,
    )
    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 -- any unpickling failure, named with the path
        raise ValueError(f"{path} could not be loaded as a pickle/joblib file: {exc}") from exc
