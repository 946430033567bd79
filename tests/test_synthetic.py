"""Tests for moeids.moirai.synthetic: synthetic stealthy attack windows and the mixer."""

import numpy as np
import pytest

from moeids.moirai.synthetic import KINDS, make_synthetic_attacks, mix_windows


@pytest.fixture(scope="module")
def benign():
    return np.random.default_rng(0).normal(size=(30, 64, 6)).astype(np.float32)


def test_shapes_info_and_determinism(benign):
    windows, info = make_synthetic_attacks(benign, n_windows=20, random_state=1)
    assert windows.shape == (20, 64, 6) and windows.dtype == np.float32
    assert list(info.columns) == ["kind", "stealth", "source"]
    assert list(info.kind[:4]) == list(KINDS)  # kinds cycle in order
    again, info2 = make_synthetic_attacks(benign, n_windows=20, random_state=1)
    np.testing.assert_array_equal(windows, again)
    assert info.equals(info2)
    other, _ = make_synthetic_attacks(benign, n_windows=20, random_state=2)
    assert not np.array_equal(windows, other)
    assert len(make_synthetic_attacks(benign, random_state=0)[0]) == len(benign)


@pytest.mark.parametrize("kind", KINDS)
def test_higher_stealth_stays_closer_to_benign(benign, kind):
    gaps = []
    for stealth in (0.0, 0.5, 0.85, 0.95):
        windows, info = make_synthetic_attacks(
            benign, n_windows=40, kinds=kind, stealth=stealth, random_state=0
        )
        gaps.append(np.abs(windows - benign[info.source]).mean())
    assert all(a > b for a, b in zip(gaps, gaps[1:], strict=False)), gaps
    assert gaps[-1] > 0


def test_kind_signatures(benign):
    def delta(kind):
        windows, info = make_synthetic_attacks(
            benign, n_windows=8, kinds=kind, stealth=0.0, random_state=3
        )
        return windows - benign[info.source]

    drift = delta("slow_exfiltration")  # grows along the window
    assert np.abs(drift[:, -8:]).mean() > 5 * np.abs(drift[:, :8]).mean()
    beacon = delta("beacon")  # a few pulse steps, each with the same shift on touched features
    touched = np.abs(beacon).max(axis=2) > 0
    assert 0 < touched.mean() < 0.6
    anomaly = delta("protocol_anomaly")  # isolated large values
    changed = np.abs(anomaly) > 0
    assert changed.mean() < 0.1 and np.abs(anomaly[changed]).min() >= 4.9
    windows, info = make_synthetic_attacks(
        benign, n_windows=4, kinds="lotl_mimicry", stealth=0.0, random_state=3
    )
    for window in windows:  # at stealth 0 a short segment repeated over the whole window
        period = next(p for p in range(2, 33) if np.allclose(window[p:], window[:-p]))
        assert period <= 8


def test_multiple_stealth_levels_are_recorded(benign):
    _, info = make_synthetic_attacks(
        benign, n_windows=24, stealth=(0.85, 0.9, 0.95), random_state=0
    )
    assert sorted(info.stealth.unique()) == [0.85, 0.9, 0.95]
    assert (info.groupby("kind").stealth.nunique() == 3).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"stealth": 1.0}, "stealth"),
        ({"stealth": -0.1}, "stealth"),
        ({"kinds": "ddos"}, "unknown kind"),
        ({"n_windows": 0}, "n_windows"),
    ],
)
def test_bad_arguments(benign, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_synthetic_attacks(benign, **kwargs)
    with pytest.raises(ValueError, match="benign must have shape"):
        make_synthetic_attacks(benign[0])


def test_mix_windows_ratios_and_labels(benign):
    synthetic, _ = make_synthetic_attacks(benign, n_windows=20, random_state=0)
    attacks = benign[:10] + 10
    mix = mix_windows(benign, synthetic, attacks, n_windows=20, random_state=0)
    source = np.concatenate([mix.source_train, mix.source_val])
    assert {s: int((source == s).sum()) for s in ("benign", "synthetic", "attack")} == {
        "benign": 14, "synthetic": 4, "attack": 2,
    }  # fmt: skip
    assert len(mix.X_val) == 3 and len(mix.X_train) == 17
    np.testing.assert_array_equal(mix.y_train, mix.source_train != "benign")
    # windows are drawn without reuse: each benign window appears at most once
    X = np.concatenate([mix.X_train, mix.X_val])
    flat = X.reshape(len(X), -1)
    assert len(np.unique(flat, axis=0)) == len(X)
    # default size: the most the ratios allow (30 benign / 0.7 -> 42, 20 / 0.2 -> 100, 10 / 0.1)
    assert len(mix_windows(benign, synthetic, attacks, validation_fraction=0).X_train) == 42


def test_mix_windows_checks(benign):
    with pytest.raises(ValueError, match="ratio 0.1 asks for attack"):
        mix_windows(benign, benign)
    with pytest.raises(ValueError, match="sum"):
        mix_windows(benign, benign, benign, ratios=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match="n_windows"):
        mix_windows(benign, benign, benign, n_windows=1000)
    with pytest.raises(ValueError, match=r"shape \(n, 64, 6\)"):
        mix_windows(benign, benign[:, :10], benign)
    only = mix_windows(benign, ratios=(1, 0, 0), random_state=0)
    assert (only.y_train == 0).all() and len(only.X_train) + len(only.X_val) == 30
