"""The one training loop the torch-backed estimators share.

Device resolution, seeding without touching the caller's global RNG, mini-batching,
early stopping on a validation metric, restore of the best weights, progress output,
and batched inference. Estimators supply a loss function and a validation function;
this module knows nothing about their networks.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from tqdm.auto import tqdm

_LONG_EPOCH_BATCHES = 50  # show a progress bar inside epochs with more batches than this
_RESIDENT_BYTES = 2**30  # training tensors up to this size move to the device once per fit


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn a ``device`` parameter into a usable :class:`torch.device`.

    ``"auto"`` picks CUDA, then MPS, then CPU. An explicit accelerator that is not
    present raises ``ValueError`` naming the ``device`` argument.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'auto' or 'cpu', got {device!r}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device; use 'auto', 'cpu', 'cuda', "
            "'cuda:N' or 'mps'"
        ) from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} was requested but CUDA is not available")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) present"
            )
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} was requested but MPS is not available")
    return resolved


def draw_seed(random_state) -> int:
    """An integer torch seed drawn from an sklearn-style ``random_state``."""
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch inside the block and restore the caller's RNG state afterwards."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def holdout_split(
    y_or_n, fraction: float, seed: int, *, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of a training part and a validation part held out for early stopping.

    The validation part has ``round(fraction * n)`` rows, at least 1 and at most
    ``n - 1`` when ``fraction > 0`` and ``n >= 2``; it is empty when ``fraction == 0``
    or ``n < 2``. With labels and ``stratify``, the split keeps the class proportions
    whenever a stratified split exists (every class has 2+ rows and both parts can
    hold one row per class); otherwise it is a plain random split.

    Parameters
    ----------
    y_or_n : int or array-like of shape (n_samples,)
        The number of rows, or their labels (any comparable values).
    fraction : float in [0, 1)
        Share of the rows to hold out.
    seed : int
        Seed of the shuffle.
    stratify : bool, default=True
        Stratify by the labels (ignored when ``y_or_n`` is a row count).

    Returns
    -------
    train : ndarray of int of shape (n_train,)
    validation : ndarray of int of shape (n_validation,)
        Disjoint; together all of ``range(n_samples)``.
    """
    labels = None if isinstance(y_or_n, int | np.integer) else np.asarray(y_or_n)
    n = int(y_or_n) if labels is None else len(labels)
    rows = np.arange(n)
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction={fraction!r} must be in [0, 1)")
    if fraction == 0 or n < 2:
        return rows, rows[:0]
    n_val = min(max(1, round(fraction * n)), n - 1)
    strata = None
    if stratify and labels is not None:
        counts = np.unique(labels, return_counts=True)[1]
        if counts.min() >= 2 and min(n_val, n - n_val) >= len(counts):
            strata = labels
    train, validation = train_test_split(rows, test_size=n_val, random_state=seed, stratify=strata)
    return train, validation


def iterate_batches(
    n_samples: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None
) -> Iterator[torch.Tensor]:
    """Yield index tensors of at most ``batch_size`` samples covering ``range(n_samples)``."""
    order = torch.randperm(n_samples, generator=generator) if shuffle else torch.arange(n_samples)
    yield from order.split(batch_size)


def train_module(
    module: torch.nn.Module,
    loss_fn: Callable[..., torch.Tensor],
    train_tensors: Sequence[torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    device: torch.device,
    generator: torch.Generator,
    validate: Callable[[torch.nn.Module], dict] | None = None,
    monitor: str = "val_loss",
    n_iter_no_change: int | None = None,
    grad_clip: float | None = None,
    ema_decay: float = 0.0,
    verbose: int = 0,
    stage: str = "train",
    loss_name: str = "train_loss",
) -> list[dict]:
    """Fit ``module`` with AdamW, early stopping and best-weights restore.

    Parameters
    ----------
    module : torch.nn.Module
        Already on ``device``.
    loss_fn : callable
        ``loss_fn(module, *batch)`` -> scalar loss, where ``batch`` are the rows of
        ``train_tensors`` for one mini-batch, moved to ``device``. None means the batch
        has nothing to learn from: it takes no optimiser step and is not counted in
        the epoch's mean loss.
    train_tensors : sequence of Tensor or BatchStream
        CPU tensors sharing their first dimension (n_samples, ...); moved to ``device``
        once (when they total at most 1 GiB, else batch by batch). Or a
        :class:`BatchStream` that yields each epoch's shuffled mini-batches itself
        (training from files, :mod:`moeids.outofcore`).
    validate : callable, optional
        ``validate(module)`` -> dict of metrics, called after each epoch in eval mode
        under ``torch.inference_mode``. Must contain ``monitor`` when given.
    monitor : str, default="val_loss"
        The metric of ``validate`` to minimise.
    n_iter_no_change : int or None
        Stop after this many epochs without a lower ``monitor`` (needs ``validate``);
        the best epoch's weights are then restored. None trains all ``epochs`` and
        keeps the last epoch's weights (of the average, with ``ema_decay``).
    grad_clip : float, optional
        Clip the gradients' global norm to this value before each step.
    loss_name : str, default="train_loss"
        Key of the epoch's mean training loss in each record and in the progress line
        (name it for what ``loss_fn`` computes when that is not the validated loss).
    ema_decay : float, default=0.0
        When positive, an exponential moving average of the weights (this decay per
        step, bias-corrected: see :func:`_ema_avg_fn`) is what gets validated, kept as the
        best state and returned in ``module``; training itself goes on from the raw
        weights. 0 disables it.

    Returns
    -------
    history : list of dict
        One entry per epoch: ``epoch``, ``loss_name``, the validation metrics, ``time``.
    """
    optimizer = torch.optim.AdamW(
        module.parameters(),
        lr=learning_rate,
        weight_decay=weight_decay,
        fused=device.type in ("cpu", "cuda") or None,
    )
    averaged = (
        torch.optim.swa_utils.AveragedModel(module, multi_avg_fn=_ema_avg_fn(ema_decay))
        if ema_decay > 0
        else None
    )
    if not isinstance(train_tensors, BatchStream) and (
        sum(t.nbytes for t in train_tensors) <= _RESIDENT_BYTES
    ):
        train_tensors = [t.to(device) for t in train_tensors]
    evaluated = module if averaged is None else averaged.module
    best = _BestEpoch(monitor, n_iter_no_change if validate is not None else None)
    history: list[dict] = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        loss = _train_epoch(
            module,
            loss_fn,
            train_tensors,
            optimizer,
            averaged,
            batch_size=batch_size,
            device=device,
            generator=generator,
            grad_clip=grad_clip,
            desc=f"{stage} epoch {epoch}/{epochs}",
            verbose=verbose,
        )
        record = {"epoch": epoch, loss_name: loss}
        if validate is not None:
            evaluated.eval()
            with torch.inference_mode():
                record.update(validate(evaluated))
        record["time"] = time.perf_counter() - start
        history.append(record)
        if verbose >= 1:
            metrics = "  ".join(
                f"{k}={v:.4f}" for k, v in record.items() if k not in ("epoch", "time")
            )
            print(f"[{stage}] epoch {epoch}/{epochs}  {metrics}  ({record['time']:.1f}s)")
        if best.update(record, evaluated):
            if verbose >= 1:
                print(f"[{stage}] early stop: best {monitor} at epoch {best.epoch}")
            break
    state = best.state
    if state is None and averaged is not None:
        state = evaluated.state_dict()
    if state is not None:
        module.load_state_dict(state)
    module.eval()
    return history


def _train_epoch(
    module,
    loss_fn,
    tensors,
    optimizer,
    averaged,
    *,
    batch_size,
    device,
    generator,
    grad_clip,
    desc,
    verbose,
) -> float:
    """One pass over shuffled mini-batches of ``tensors`` (or of a :class:`BatchStream`),
    one optimiser step per batch.

    The rows of a batch are sliced from ``tensors`` where they are (on ``device`` when
    they fit there, see :func:`train_module`) and the losses are summed on ``device``, so
    a step waits for no transfer to the host. Raises ``FloatingPointError`` at the end of
    an epoch whose loss was not finite.

    Returns the mean batch loss weighted by batch size, over the batches that had a
    loss (``loss_fn`` gave None: no step); NaN when none had one.
    """
    if isinstance(tensors, BatchStream):
        batches, n_batches = tensors.batches(batch_size, generator), tensors.n_batches(batch_size)
    else:
        order = torch.randperm(len(tensors[0]), generator=generator).to(tensors[0].device)
        indices = order.split(batch_size)
        batches, n_batches = ([t[idx] for t in tensors] for idx in indices), len(indices)
    module.train()
    total, seen = torch.zeros((), device=device), 0
    show = verbose >= 1 and (n_batches or 0) > _LONG_EPOCH_BATCHES
    for batch in tqdm(batches, desc=desc, leave=False, disable=not show, total=n_batches):
        loss = loss_fn(module, *[t.to(device, non_blocking=True) for t in batch])
        if loss is None:  # nothing to learn from in this batch
            continue
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(module.parameters(), grad_clip)
        optimizer.step()
        if averaged is not None:
            averaged.update_parameters(module)
        total, seen = total + loss.detach() * len(batch[0]), seen + len(batch[0])
    if not seen:
        return float("nan")
    mean = total.item() / seen
    if not np.isfinite(mean):
        raise FloatingPointError(f"{desc}: loss became {mean}; lower learning_rate")
    return mean


class BatchStream:
    """Training rows that do not fit in memory: each epoch's mini-batches, streamed.

    What :func:`train_module` accepts instead of tensors. A subclass yields, from
    :meth:`batches`, tuples of CPU tensors (batch, ...) in an order drawn from
    ``generator``; :class:`moeids.outofcore.ParquetStream` reads them from Parquet files.
    """

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple]:
        """One epoch of shuffled mini-batches of at most ``batch_size`` rows."""
        raise NotImplementedError

    def n_batches(self, batch_size: int) -> int | None:
        """Mini-batches per epoch (for the progress bar), None when unknown."""
        return None


class _BestEpoch:
    """The best epoch so far by a validation metric (lower is better), for early stopping."""

    def __init__(self, monitor: str, patience: int | None):
        self.monitor, self.patience = monitor, patience
        self.score, self.epoch, self.state, self.stale = np.inf, 0, None, 0

    def update(self, record: dict, module: torch.nn.Module) -> bool:
        """Keep ``module``'s weights when ``record`` is the best epoch; True to stop."""
        if self.patience is None:
            return False
        if record[self.monitor] < self.score:
            self.score, self.epoch, self.stale = record[self.monitor], record["epoch"], 0
            self.state = copy.deepcopy(module.state_dict())
            return False
        self.stale += 1
        return self.stale >= self.patience


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """``torch.from_numpy``, on a copy when ``array`` is read-only.

    pandas 3 (copy-on-write) and read-only memmaps give arrays that torch cannot share
    without a warning; the estimators never write into their inputs, but a copy keeps that
    promise without relying on it.
    """
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def _ema_avg_fn(decay: float) -> Callable:
    """Update rule of a bias-corrected exponential moving average of the weights.

    After ``t`` steps the average is ``sum_s decay**(t - s) * w_s / sum_s decay**(t - s)``
    over the weights ``w_1 .. w_t`` of every step, as Adam corrects its moments: a short fit
    (fewer than ~``1 / (1 - decay)`` steps) is not pulled towards its first weights, and a long
    one gets the plain moving average.
    """

    def update(averaged, current, num_averaged):
        weight = (1 - decay) / (1 - decay ** (int(num_averaged) + 1))
        torch._foreach_lerp_(averaged, current, weight)

    return update


def predict_batches(
    fn: Callable[..., torch.Tensor | tuple[torch.Tensor, ...]],
    tensors: Sequence[torch.Tensor],
    *,
    batch_size: int,
    device: torch.device,
) -> tuple[np.ndarray, ...]:
    """Apply ``fn(*batch)`` over mini-batches under ``torch.inference_mode``.

    Returns the outputs concatenated along the first axis as numpy arrays (always a
    tuple, one element per output of ``fn``).
    """
    outputs: list[list[np.ndarray]] = []
    with torch.inference_mode():
        for idx in iterate_batches(len(tensors[0]), batch_size, shuffle=False):
            result = fn(*[t[idx].to(device) for t in tensors])
            result = result if isinstance(result, tuple) else (result,)
            if not outputs:
                outputs = [[] for _ in result]
            for store, r in zip(outputs, result, strict=True):
                store.append(r.float().cpu().numpy())
    return tuple(np.concatenate(store) for store in outputs)
