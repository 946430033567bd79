"""Synthetic stealthy attack windows made from benign windows, and a train/validation mixer.

Everything here is **synthetic**: :func:`make_synthetic_attacks` perturbs real benign windows
(shape (n, seq_length, n_features), standardised as by :class:`~moeids.FlowWindower`) with
the temporal signature of four stealthy attack kinds. They are simple, transparent rules,
not a generative model (such windows are often made with a diffusion model, e.g.
Diffusion-TS):

``slow_exfiltration``
    a slow linear drift over the window in a few features (volume creeping up);
``lotl_mimicry``
    "living off the land": the window is blended with a short benign segment repeated over
    the whole window (automated, repetitive use of legitimate-looking traffic);
``beacon``
    periodic pulses with a small jitter (command-and-control check-ins);
``protocol_anomaly``
    isolated out-of-range values at a few time steps (malformed or unusual packets).

``stealth`` in [0, 1) shrinks the perturbation with ``1 - stealth`` (``docs/moirai.md`` has
the exact sizes): at 0.95 a window stays within a few tenths of a standard deviation of its
benign source. :func:`mix_windows` mixes benign,
synthetic and real attack windows (70/20/10 by default) into labelled train and validation sets.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.utils import Bunch, check_random_state

#: The four synthetic attack kinds.
KINDS = ("slow_exfiltration", "lotl_mimicry", "beacon", "protocol_anomaly")

# Perturbation size at stealth 0, in standard deviations of the standardised features.
_AMPLITUDE = {"slow_exfiltration": 3.0, "beacon": 4.0, "protocol_anomaly": 5.0}


def _check_benign(benign):
    benign = np.asarray(benign, dtype=np.float32)
    if benign.ndim != 3 or benign.shape[0] == 0 or benign.shape[1] < 4:
        raise ValueError(
            "benign must have shape (n_windows >= 1, seq_length >= 4, n_features), "
            f"got {benign.shape}"
        )
    return benign


def _check_stealth(stealth):
    levels = np.atleast_1d(np.asarray(stealth, dtype=float))
    if levels.ndim != 1 or levels.size == 0:
        raise ValueError(f"stealth must be a float or a 1-D sequence of floats, got {stealth!r}")
    bad = (levels < 0) | (levels >= 1) | ~np.isfinite(levels)
    if bad.any():
        raise ValueError(f"stealth must lie in [0, 1), got {levels[bad][0]!r}")
    return levels


def _check_kinds(kinds):
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds:
        raise ValueError("kinds is empty")
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; choose from {KINDS}")
    return kinds


def _perturb(window, kind, intensity, rng):
    """One synthetic window from a benign ``window`` (T, F); returns a new array."""
    T, F = window.shape
    out = window.copy()
    cols = rng.choice(F, size=max(1, int(round(F * rng.uniform(0.25, 0.5)))), replace=False)
    if kind == "slow_exfiltration":
        ramp = np.linspace(0.0, 1.0, T)[:, None]
        out[:, cols] += _AMPLITUDE[kind] * intensity * ramp * rng.uniform(0.7, 1.3, len(cols))
    elif kind == "beacon":
        period = int(rng.integers(max(2, T // 16), max(3, T // 4) + 1))
        jitter = rng.integers(-1, 2, size=T // period + 2)
        ticks = np.arange(int(rng.integers(period)), T, period)
        ticks = np.clip(ticks + jitter[: len(ticks)], 0, T - 1)
        pulse = np.zeros(T)
        pulse[ticks] = 1.0
        out[:, cols] += _AMPLITUDE[kind] * intensity * pulse[:, None]
    elif kind == "lotl_mimicry":
        length = int(rng.integers(max(2, T // 32), max(3, T // 8) + 1))
        start = int(rng.integers(0, T - length + 1))
        repeated = np.resize(window[start : start + length], (T, F))
        out = (1.0 - intensity) * window + intensity * repeated
    else:  # protocol_anomaly
        n_steps = max(1, int(round(T * 0.1 * intensity)))
        steps = rng.choice(T, size=n_steps, replace=False)
        signs = rng.choice([-1.0, 1.0], size=(n_steps, len(cols)))
        out[np.ix_(steps, cols)] += _AMPLITUDE[kind] * (0.2 + 0.8 * intensity) * signs
    return out.astype(np.float32)


def make_synthetic_attacks(benign, n_windows=None, kinds=KINDS, stealth=0.9, random_state=None):
    """Generate **synthetic** stealthy attack windows from benign windows.

    Parameters
    ----------
    benign : array-like of shape (n_benign, seq_length, n_features)
        Real benign windows (standardised, as from :class:`~moeids.FlowWindower`). NaN are
        kept where the source window has them.
    n_windows : int or None, default=None
        How many windows to make; ``None`` means ``n_benign``.
    kinds : str or sequence of str, default=KINDS
        Kinds to make, cycled in order (see :data:`KINDS`).
    stealth : float or sequence of float in [0, 1), default=0.9
        Stealth level(s), cycled within each kind; the perturbation scales with
        ``1 - stealth``. ``benchmarks/bench_moirai.py`` uses 0.85, 0.90 and 0.95.
    random_state : int, RandomState or None, default=None
        Makes the output deterministic.

    Returns
    -------
    windows : ndarray of shape (n_windows, seq_length, n_features), float32
        Synthetic attack windows.
    info : DataFrame with n_windows rows
        ``kind``, ``stealth`` and ``source`` (row of ``benign`` each window was made from).

    Examples
    --------
    >>> import numpy as np
    >>> benign = np.random.default_rng(0).normal(size=(3, 16, 2)).astype("float32")
    >>> windows, info = make_synthetic_attacks(benign, n_windows=4, random_state=0)
    >>> windows.shape, info["kind"].tolist()
    ((4, 16, 2), ['slow_exfiltration', 'lotl_mimicry', 'beacon', 'protocol_anomaly'])
    """
    benign = _check_benign(benign)
    kinds = _check_kinds(kinds)
    levels = _check_stealth(stealth)
    n_windows = len(benign) if n_windows is None else n_windows
    if (
        not isinstance(n_windows, numbers.Integral)
        or isinstance(n_windows, bool)
        or (n_windows < 1)
    ):
        raise ValueError(f"n_windows must be a positive int or None, got {n_windows!r}")
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    sources = rng.integers(0, len(benign), size=n_windows)
    kind_of = [kinds[i % len(kinds)] for i in range(n_windows)]
    level_of = levels[(np.arange(n_windows) // len(kinds)) % len(levels)]
    windows = np.stack(
        [
            _perturb(benign[s], k, 1.0 - lvl, rng)
            for s, k, lvl in zip(sources, kind_of, level_of, strict=True)
        ]
    )
    info = pd.DataFrame({"kind": kind_of, "stealth": level_of, "source": sources})
    return windows, info


def _as_windows(name, windows, shape):
    if windows is None:
        return np.empty((0, *shape), dtype=np.float32)
    windows = np.asarray(windows, dtype=np.float32)
    if windows.ndim != 3 or windows.shape[1:] != shape:
        raise ValueError(f"{name} must have shape (n, {shape[0]}, {shape[1]}), got {windows.shape}")
    return windows


def mix_windows(
    benign,
    synthetic=None,
    attacks=None,
    ratios=(0.7, 0.2, 0.1),
    n_windows=None,
    validation_fraction=0.15,
    random_state=None,
):
    """Mix benign, synthetic and real attack windows into labelled train/validation sets.

    Windows are drawn without replacement from each source in the proportions ``ratios``,
    shuffled, and split.

    Parameters
    ----------
    benign : array-like of shape (n_benign, seq_length, n_features)
    synthetic : array-like of shape (n_synthetic, seq_length, n_features) or None
    attacks : array-like of shape (n_attacks, seq_length, n_features) or None
        Real attack windows.
    ratios : tuple of 3 floats, default=(0.7, 0.2, 0.1)
        Shares of benign, synthetic and real attack windows; they must sum to 1. A source
        that is ``None`` needs ratio 0.
    n_windows : int or None, default=None
        Total windows; ``None`` takes the most that ``ratios`` allow without reuse.
    validation_fraction : float in [0, 1), default=0.15
        Share of the mix held out for validation.
    random_state : int, RandomState or None, default=None

    Returns
    -------
    bunch : sklearn.utils.Bunch
        ``X_train`` (n_train, seq_length, n_features), ``y_train`` (n_train,) with 1 for
        synthetic and real attacks, ``source_train`` (n_train,) in ``{"benign", "synthetic",
        "attack"}``, and the same three for ``val``.

    Examples
    --------
    >>> import numpy as np
    >>> from moeids.moirai import make_synthetic_attacks, mix_windows
    >>> benign = np.random.default_rng(0).normal(size=(40, 16, 2)).astype("float32")
    >>> synthetic, _ = make_synthetic_attacks(benign, random_state=0)
    >>> mix = mix_windows(benign, synthetic, ratios=(0.7, 0.3, 0.0), random_state=0)
    >>> mix.X_train.shape, mix.X_val.shape, sorted(set(mix.source_train))
    ((48, 16, 2), (9, 16, 2), ['benign', 'synthetic'])
    """
    benign = _check_benign(benign)
    shape = benign.shape[1:]
    parts = {
        "benign": benign,
        "synthetic": _as_windows("synthetic", synthetic, shape),
        "attack": _as_windows("attacks", attacks, shape),
    }
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction!r}")
    counts = _mix_counts([len(p) for p in parts.values()], list(parts), ratios, n_windows)
    n_windows = int(counts.sum())
    rng = check_random_state(random_state)
    X, source = [], []
    for (name, part), count in zip(parts.items(), counts, strict=True):
        X.append(part[rng.choice(len(part), size=count, replace=False)])
        source += [name] * count
    X = np.concatenate(X)
    source = np.asarray(source, dtype=object)
    order = rng.permutation(n_windows)
    X, source = X[order], source[order]
    y = (source != "benign").astype(np.int8)
    n_val = int(round(validation_fraction * n_windows))
    return Bunch(
        X_train=X[n_val:],
        y_train=y[n_val:],
        source_train=source[n_val:],
        X_val=X[:n_val],
        y_val=y[:n_val],
        source_val=source[:n_val],
    )


def _mix_counts(sizes, names, ratios, n_windows):
    """Windows (3,) to draw from each source: ``ratios`` of ``n_windows``, none reused."""
    ratios = np.asarray(ratios, dtype=float)
    if ratios.shape != (3,) or (ratios < 0).any() or not np.isclose(ratios.sum(), 1.0):
        raise ValueError(f"ratios must be 3 non-negative shares summing to 1, got {ratios}")
    for name, size, share in zip(names, sizes, ratios, strict=True):
        if share > 0 and size == 0:
            raise ValueError(f"ratio {share} asks for {name} windows, but none were given")
    most = int(min(size / share for size, share in zip(sizes, ratios, strict=True) if share > 0))
    n_windows = most if n_windows is None else n_windows
    if not isinstance(n_windows, numbers.Integral) or not 1 <= n_windows <= most:
        raise ValueError(
            f"n_windows must be an int in [1, {most}] (the most these ratios allow without "
            f"reusing a window), got {n_windows!r}"
        )
    counts = np.floor(ratios * n_windows + 1e-9).astype(int)
    for i in np.argsort(-ratios):  # rounding remainder to the largest shares with spare windows
        extra = min(n_windows - counts.sum(), sizes[i] - counts[i])
        counts[i] += extra if ratios[i] > 0 else 0
    return counts
