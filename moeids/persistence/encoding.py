"""Python values <-> JSON with explicit type tags, plus a dict of tensors.

``None``, ``bool``, ``int``, finite ``float``, ``str`` and ``list`` are plain JSON; every
other value is a JSON object whose ``"__type__"`` names what it is:

==================  =====================================================================
``float``           a non-finite float: ``{"value": "nan" | "inf" | "-inf"}``
``tuple``/``set``   ``{"items": [...]}``
``dict``/``bunch``  ``{"items": [[key, value], ...]}`` (``bunch``: sklearn's ``Bunch``)
``bytes``/``path``  ``{"value": hex string | path string}``
``ndarray``         numeric dtypes: ``{"dtype", "shape", "tensor"}``, the raw bytes in a
                    uint8 tensor; strings and objects: ``{"dtype", "shape", "items"}``
``numpy.scalar``    ``{"array": <0-d ndarray>}``
``torch.device``    ``{"value": "cuda:0"}``; ``torch.tensor``: ``{"tensor"}`` (CPU)
``RandomState``     ``{"id", "state": <get_state() tuple>}``; ``ref``: ``{"id"}``, a value
                    seen before (the same object shared twice stays one object)
``estimator``       ``{"id", "class", "state": {attribute: value}, "modules": {...}}``: an
                    allow-listed estimator (:mod:`.types`) and every attribute in its
                    ``__dict__`` (parameters and fitted ``*_`` state alike); its torch
                    networks as ``{"config", "prefix"}``, the ``state_dict`` tensors under
                    ``prefix``
==================  =====================================================================
"""

from __future__ import annotations

import math
from pathlib import PurePath

import numpy as np
import torch
from sklearn.utils import Bunch

from .types import build_module, module_config, supported_class, type_name

__all__ = ["Encoder", "Decoder"]

_PLAIN = (type(None), bool, int, str)
_BYTE_KINDS = "biufcmM"  # dtypes stored as raw bytes (never object pointers)


class Encoder:
    """Turn a model into a JSON-ready tree; its tensors accumulate in ``tensors``."""

    def __init__(self):
        self.tensors: dict[str, torch.Tensor] = {}
        self._ids: dict[int, int] = {}
        self._keep = []  # objects seen, kept alive so that their ids stay unique

    def encode(self, value, where: str):
        """JSON-ready form of ``value``; ``where`` names it in errors."""
        kind = type(value)
        if kind in _PLAIN:
            return value
        if isinstance(value, np.generic):
            return {"__type__": "numpy.scalar", "array": self._array(np.asarray(value), where)}
        if kind is float:
            return value if math.isfinite(value) else {"__type__": "float", "value": str(value)}
        if kind is list:
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if kind in (tuple, set, frozenset):
            items = sorted(value, key=repr) if kind is not tuple else value
            return {"__type__": kind.__name__, "items": self.encode(list(items), where)}
        if kind in (dict, Bunch):
            items = [self._item(k, v, where) for k, v in value.items()]
            return {"__type__": "dict" if kind is dict else "bunch", "items": items}
        if kind is bytes:
            return {"__type__": "bytes", "value": value.hex()}
        if isinstance(value, PurePath):
            return {"__type__": "path", "value": str(value)}
        if kind is np.ndarray:
            return self._array(value, where)
        if kind is torch.device:
            return {"__type__": "torch.device", "value": str(value)}
        if isinstance(value, torch.Tensor):
            return {"__type__": "torch.tensor", "tensor": self._tensor("t", value)}
        if id(value) in self._ids:
            return {"__type__": "ref", "id": self._ids[id(value)]}
        if kind is np.random.RandomState:
            state = self.encode(value.get_state(), f"{where}.get_state()")
            return {"__type__": "RandomState", "id": self._remember(value), "state": state}
        name = type_name(value)
        if name is not None:
            return self._estimator(name, value, where)
        raise TypeError(
            f"cannot store {where} of type {kind.__module__}.{kind.__qualname__}: a moeids "
            "model file holds moeids/sklearn estimators (see moeids.persistence."
            "SUPPORTED_TYPES), numpy arrays, tensors and plain Python values"
        )

    def _item(self, key, value, where):
        return [self.encode(key, f"{where} key"), self.encode(value, f"{where}[{key!r}]")]

    def _remember(self, value) -> int:
        self._ids[id(value)] = len(self._ids)
        self._keep.append(value)
        return self._ids[id(value)]

    def _tensor(self, prefix: str, tensor: torch.Tensor) -> str:
        key = f"{prefix}{len(self.tensors)}"
        self.tensors[key] = tensor.detach().cpu().contiguous()
        return key

    def _array(self, array: np.ndarray, where: str) -> dict:
        out = {"__type__": "ndarray", "dtype": array.dtype.str, "shape": list(array.shape)}
        if array.dtype.kind in _BYTE_KINDS:
            raw = np.frombuffer(np.ascontiguousarray(array).tobytes(), dtype=np.uint8)
            out["tensor"] = self._tensor("a", torch.from_numpy(raw.copy()))
        elif array.dtype.kind in "US" or array.dtype == object:
            out["items"] = self.encode(array.ravel().tolist(), where)
        else:
            raise TypeError(f"cannot store {where}: an array of dtype {array.dtype}")
        return out

    def _estimator(self, name: str, estimator, where: str) -> dict:
        out = {"__type__": "estimator", "id": self._remember(estimator), "class": name}
        torch_attributes = getattr(estimator, "_torch_modules", ())
        state, modules = {}, {}
        for attribute, value in vars(estimator).items():
            if isinstance(value, torch.nn.Module) and attribute in torch_attributes:
                prefix = f"e{out['id']}.{attribute}."
                for key, tensor in value.state_dict().items():
                    self.tensors[prefix + key] = tensor.detach().cpu().contiguous()
                config = self.encode(module_config(name, estimator, value), f"{where}.{attribute}")
                modules[attribute] = {"config": config, "prefix": prefix}
            else:
                state[attribute] = self.encode(value, f"{where}.{attribute}")
        out["state"], out["modules"] = state, modules
        return out


class Decoder:
    """Rebuild the values of an :class:`Encoder` tree from it and its ``tensors``."""

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = tensors
        self._objects: dict[int, object] = {}

    def objects(self) -> list:
        """Every estimator and RandomState decoded so far."""
        return list(self._objects.values())

    def decode(self, node):
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.decode(v) for v in node]
        tag = node.get("__type__") if type(node) is dict else None
        method = getattr(self, "_" + str(tag).replace(".", "_"), None)
        if method is None:
            raise ValueError(f"unknown value tag {tag!r}")
        return method(node)

    def _float(self, node):
        if node["value"] not in ("nan", "inf", "-inf"):
            raise ValueError(f"bad float {node['value']!r}")
        return float(node["value"])

    def _tuple(self, node):
        return tuple(self.decode(node["items"]))

    def _set(self, node):
        return set(self.decode(node["items"]))

    def _frozenset(self, node):
        return frozenset(self.decode(node["items"]))

    def _dict(self, node):
        return {self.decode(k): self.decode(v) for k, v in node["items"]}

    def _bunch(self, node):
        return Bunch(**self._dict(node))

    def _bytes(self, node):
        return bytes.fromhex(node["value"])

    def _path(self, node):
        from pathlib import Path

        return Path(node["value"])

    def _torch_device(self, node):
        return torch.device(node["value"])

    def _torch_tensor(self, node):
        return self.tensors[node["tensor"]].clone()

    def _numpy_scalar(self, node):
        array = self._ndarray(node["array"])
        if array.shape != ():
            raise ValueError(f"a numpy scalar must be 0-d, got shape {array.shape}")
        return array[()]

    def _ndarray(self, node):
        dtype, shape = np.dtype(node["dtype"]), tuple(int(n) for n in node["shape"])
        if "tensor" in node:
            if dtype.kind not in _BYTE_KINDS:
                raise ValueError(f"dtype {dtype} cannot be stored as bytes")
            raw = self.tensors[node["tensor"]].numpy().tobytes()
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        if dtype.kind not in "USO":
            raise ValueError(f"dtype {dtype} must be stored as bytes")
        items = self.decode(node["items"])
        array = np.empty(len(items), dtype=dtype)
        for i, item in enumerate(items):  # element-wise: nested lists stay objects
            array[i] = item
        return array.reshape(shape)

    def _ref(self, node):
        return self._objects[node["id"]]

    def _RandomState(self, node):
        random_state = np.random.RandomState()
        random_state.set_state(self.decode(node["state"]))
        self._objects[node["id"]] = random_state
        return random_state

    def _estimator(self, node):
        name = node["class"]
        cls = supported_class(name)
        estimator = cls.__new__(cls)
        self._objects[node["id"]] = estimator
        for attribute, value in node["state"].items():
            if not attribute.isidentifier() or attribute.startswith("__"):
                raise ValueError(f"bad attribute name {attribute!r} of {name}")
            estimator.__dict__[attribute] = self.decode(value)  # no setattr: no descriptors
        for attribute, stored in node["modules"].items():
            if attribute not in getattr(cls, "_torch_modules", ()):
                raise ValueError(f"{name} has no torch network {attribute!r}")
            config = self.decode(stored["config"])
            with torch.random.fork_rng(devices=[]):  # building draws random weights
                module = build_module(name, estimator, config)
            prefix = stored["prefix"]
            weights = {k[len(prefix) :]: t for k, t in self.tensors.items() if k.startswith(prefix)}
            try:
                module.load_state_dict(weights, strict=True)
            except RuntimeError as exc:
                raise ValueError(f"the weights of {name}.{attribute} do not fit: {exc}") from exc
            estimator.__dict__[attribute] = module.eval()
        return estimator
