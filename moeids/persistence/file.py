"""``save``/``load``: one pickle-free, checksummed ``.safetensors`` file per fitted model.

The layout (``docs/persistence.md``): the safetensors tensors hold every numeric array and
network weight (on the CPU); the safetensors header's metadata holds ``"moeids"``, a JSON
document ``{"format", "versions", "root"}`` (``root``: the model as :mod:`.encoding`
writes it), and ``"moeids.sha256"``, the SHA-256 of that JSON text followed by every
tensor's name, dtype, shape and bytes in name order. ``load`` verifies the checksum
before it builds anything and imports only allow-listed types.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import sklearn
import torch
from sklearn.exceptions import InconsistentVersionWarning

from .encoding import Decoder, Encoder
from .pickling import TorchPickleMixin, load_pickle, looks_like_pickle, usable_device

__all__ = ["FORMAT", "save", "load"]

FORMAT = "moeids/1"
_METADATA_KEY, _CHECKSUM_KEY = "moeids", "moeids.sha256"
_NOT_OURS = "is not a file written by MoEClassifier.save or moeids.save"


def _versions() -> dict:
    import safetensors

    from .. import __version__

    return {
        "moeids": __version__,
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
    }


def _checksum(text: str, tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256(text.encode("utf-8"))
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        header = json.dumps([name, str(tensor.dtype), list(tensor.shape)])
        digest.update(header.encode("utf-8"))
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save(model, path) -> Path:
    """Write a fitted model to one pickle-free ``.safetensors`` file.

    Parameters
    ----------
    model : estimator
        A fitted ``Pipeline(FeatureSplitter, MoEClassifier)``, ``MoEClassifier``,
        ``FeatureSplitter``, ``FlowWindower``, ``MoiraiNLLDetector``, a pipeline of
        them, or a ``FixedThresholdClassifier`` (or ``FrozenEstimator``) around one
        (:data:`moeids.persistence.SUPPORTED_TYPES`).
    path : str or path-like
        The file to write (replaced atomically when it exists).

    Returns
    -------
    path : pathlib.Path

    Examples
    --------
    >>> import os, tempfile
    >>> import moeids
    >>> from moeids.datasets import load_sample
    >>> splitter = moeids.FeatureSplitter().fit(load_sample().data)
    >>> path = os.path.join(tempfile.mkdtemp(), "splitter.safetensors")
    >>> _ = moeids.save(splitter, path)
    >>> again = moeids.load(path)
    >>> list(again.get_feature_names_out()) == list(splitter.get_feature_names_out())
    True
    """
    from safetensors.torch import save_file
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    encoder = Encoder()
    root = encoder.encode(model, type(model).__name__)
    document = {"format": FORMAT, "versions": _versions(), "root": root}
    text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    metadata = {_METADATA_KEY: text, _CHECKSUM_KEY: _checksum(text, encoder.tensors)}
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    save_file(encoder.tensors, str(partial), metadata=metadata)
    os.replace(partial, path)
    return path


def _is_safetensors(path: Path) -> bool:
    """An 8-byte little-endian header length that fits the file, then a JSON object."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return struct.unpack("<Q", head[:8])[0] + 8 <= path.stat().st_size


def load(path, *, allow_pickle: bool = False, device=None):
    """Read a model written by :func:`save`.

    Parameters
    ----------
    path : str or path-like
    allow_pickle : bool, default=False
        Load a pickle/joblib file with ``joblib.load`` (and a
        :class:`~moeids.persistence.PickleLoadWarning`). A pickle runs whatever code it
        holds when it is loaded, so without this flag such a file raises ValueError.
    device : str, torch.device or None, default=None
        Where to put every network (``device_`` and the ``device`` parameter are set to
        it). None: the device each was fitted on when it exists here, else the CPU with
        a :class:`~moeids.persistence.DeviceFallbackWarning`. Ignored for pickles.

    Returns
    -------
    model : estimator

    Raises
    ------
    ValueError
        Naming ``path``: not a moeids model file (truncated, another format, a folder), a
        pickle without ``allow_pickle``, a checksum mismatch (altered content), or a type
        outside the allow-list.

    Examples
    --------
    A fitted pipeline (a tiny network, for a fast example) written and read back:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> import moeids
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()
    >>> X, y = flows.data.iloc[::10], flows.target.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> classifier = moeids.MoEClassifier(random_state=0, **tiny)
    >>> model = make_pipeline(moeids.FeatureSplitter(), classifier)
    >>> path = moeids.save(model.fit(X, y), os.path.join(tempfile.mkdtemp(), "model.safetensors"))
    >>> again = moeids.load(path, device="cpu")
    >>> bool(np.array_equal(again.predict_proba(X), model.predict_proba(X)))
    True

    A pickle is refused unless ``allow_pickle=True`` (loading one runs its code):

    >>> import joblib
    >>> pickled = joblib.dump(model, path.with_name("model.joblib"))[0]
    >>> moeids.load(pickled)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...model.joblib is a pickle/joblib file, and loading a pickle runs whatever ...
    """
    from .._training import resolve_device

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a model file written by moeids.save")
    chosen = None if device is None else resolve_device(device)
    if not _is_safetensors(path):
        with open(path, "rb") as handle:
            head = handle.read(8)
        if allow_pickle or looks_like_pickle(path, head):
            return load_pickle(path, allow_pickle=allow_pickle)
        raise ValueError(f"{path} {_NOT_OURS} (not a safetensors file; truncated?)")
    document, tensors = _read(path)
    try:
        decoder = Decoder(tensors)
        model = decoder.decode(document["root"])
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise ValueError(f"{path}: cannot rebuild the model: {exc}") from exc
    _warn_versions(path, document.get("versions"))
    _place(decoder.objects(), chosen)
    return model


def _read(path: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """The verified JSON document and the tensors of a moeids file."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is not a readable safetensors file: {exc}") from exc
    if _METADATA_KEY not in metadata:
        raise ValueError(f"{path} {_NOT_OURS} (no {_METADATA_KEY!r} metadata)")
    text = metadata[_METADATA_KEY]
    if metadata.get(_CHECKSUM_KEY) != _checksum(text, tensors):
        raise ValueError(
            f"{path}: checksum mismatch: the file was altered or damaged after it was "
            "written (its tensors or its metadata); refusing to load it"
        )
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: the moeids metadata is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        raise ValueError(
            f"{path}: unsupported format {found!r} (this moeids reads {FORMAT!r}); "
            "re-save the model with the moeids that wrote it"
        )
    return document, tensors


class _VersionWarning(InconsistentVersionWarning):
    """A model file written with another scikit-learn version (not a pickle)."""

    def __str__(self):
        return (
            f"{self.estimator_name} was written with scikit-learn "
            f"{self.original_sklearn_version}; this is {self.current_sklearn_version}. The "
            "model may behave differently or fail: re-save it with this version."
        )


def _warn_versions(path: Path, versions) -> None:
    saved = (versions or {}).get("sklearn")
    if saved != sklearn.__version__:
        warning = _VersionWarning(
            estimator_name=str(path),
            current_sklearn_version=sklearn.__version__,
            original_sklearn_version=saved,
        )
        warnings.warn(warning, stacklevel=3)


def _place(objects, chosen) -> None:
    """Move every torch estimator's networks to ``chosen`` or to a usable ``device_``."""
    for estimator in objects:
        if not isinstance(estimator, TorchPickleMixin) or "device_" not in vars(estimator):
            continue
        if not isinstance(estimator.device_, torch.device):
            raise ValueError(f"device_ of {type(estimator).__name__} is not a torch.device")
        if chosen is not None:
            estimator.device, estimator.device_ = str(chosen), chosen
        else:
            estimator.device_ = usable_device(estimator.device_, type(estimator).__name__)
        for attribute in estimator._torch_modules:
            module = getattr(estimator, attribute, None)
            if module is not None:
                module.to(estimator.device_)
