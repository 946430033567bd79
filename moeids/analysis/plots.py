"""Figures of the analysis views (matplotlib, without pyplot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._common import _expert_label, _figure_class, _finish
from .gating import _gating_frame

__all__ = ["plot_attributions", "plot_gating"]


def plot_gating(
    model,
    X,
    attack_type,
    out_dir,
    *,
    y=None,
    class_names=None,
    prefix="gating",
    title=None,
    caption=None,
):
    """Write PNG figures of a model's gate weights.

    Two kinds of figure, one idea each:

    - ``<prefix>_distribution[_<expert>].png``: box plots of the weight on an expert, one box
      per class (the true class ``y`` when given, else the predicted class). With two
      experts only the first is drawn (the other weight is its complement).
    - ``<prefix>_by_attack_type.png``: stacked horizontal bars of the mean weight on each
      expert per attack type, labelled with the count and accuracy of that type.

    Parameters
    ----------
    model : MoEClassifier or Pipeline
        Fitted; see :func:`gating_weights`.
    X : array-like of shape (n_samples, n_features)
        Input of ``model``.
    attack_type : array-like of shape (n_samples,)
        Attack type of each sample.
    out_dir : str or path-like
        Folder for the PNG files (created if absent).
    y : array-like of shape (n_samples,), optional
        True labels in the model's label space, as in :func:`gating_report`.
    class_names : mapping, optional
        Display name of each class in the distribution figure, e.g.
        ``{0: "benign", 1: "attack"}`` (default: the labels themselves).
    prefix : str
        File name prefix.
    title : str, optional
        Prepended to each figure title (e.g. the dataset name).
    caption : str, optional
        Small print at the bottom of each figure (e.g. the command that produced it).

    Returns
    -------
    paths : list of pathlib.Path
        The files written.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y, kind = flows.data.iloc[::10], flows.target.iloc[::10], flows.attack_type.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> import tempfile
    >>> from moeids.analysis import plot_gating
    >>> paths = plot_gating(model, X, kind, tempfile.mkdtemp(), y=y)
    >>> [path.name for path in paths]
    ['gating_distribution.png', 'gating_by_attack_type.png']
    """
    Figure = _figure_class()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame, experts = _gating_frame(model, X, attack_type, y)
    lead = f"{title}: " if title else ""
    classes = frame["predicted"] if y is None else pd.Series(np.asarray(y))
    class_kind = "predicted class" if y is None else "true class"
    paths = []
    for expert in experts if len(experts) > 2 else experts[:1]:
        fig = _distribution_figure(
            Figure, frame, experts, expert, classes, class_kind, dict(class_names or {}), lead
        )
        _finish(fig, caption)
        suffix = f"_{expert}" if len(experts) > 2 else ""
        paths.append(out_dir / f"{prefix}_distribution{suffix}.png")
        fig.savefig(paths[-1], dpi=100)
    fig = _by_attack_type_figure(Figure, frame, experts, lead)
    _finish(fig, caption)
    paths.append(out_dir / f"{prefix}_by_attack_type.png")
    fig.savefig(paths[-1], dpi=100)
    return paths


def _distribution_figure(Figure, frame, experts, expert, classes, class_kind, shown, lead):
    """Box plots of the weight on ``expert``, one box per class."""
    names = sorted(pd.unique(classes), key=str)
    data = [frame.loc[(classes == c).to_numpy(), expert].to_numpy() for c in names]
    fig = Figure(figsize=(8, max(2.8, 1.4 + 0.45 * len(names))))
    ax = fig.subplots()
    ax.boxplot(
        data, orientation="horizontal", whis=(5, 95), showfliers=False, showmeans=True, widths=0.6
    )
    ax.set_yticks(
        range(1, len(names) + 1),
        [f"{shown.get(c, c)} (n={len(d)})" for c, d in zip(names, data, strict=True)],
    )
    ax.set_xlim(-0.02, 1.02)
    other = f" (weight on {experts[1]} = 1 - this)" if len(experts) == 2 else ""
    ax.set_xlabel(f"gate weight on the {_expert_label(expert)}{other}")
    ax.set_ylabel(class_kind)
    ax.set_title(
        f"{lead}weight on the {_expert_label(expert)} per {class_kind}\n"
        "box: quartiles, whiskers: 5th-95th percentile, triangle: mean",
        fontsize=10,
    )
    ax.invert_yaxis()  # first class on top
    ax.grid(axis="x", alpha=0.3)
    return fig


def _by_attack_type_figure(Figure, frame, experts, lead):
    """Stacked bars of the mean weight per expert and attack type."""
    grouped = frame.groupby("attack_type")
    means = grouped[experts].mean().sort_values(experts[0], kind="stable")
    counts = grouped.size()
    labels = []
    for name in means.index:
        text = f"{name} (n={counts[name]}"
        if "correct" in frame:
            text += f", acc {grouped['correct'].mean()[name]:.1%}"
        labels.append(text + ")")
    fig = Figure(figsize=(9, 1.4 + 0.4 * len(means)))
    ax = fig.subplots()
    left = np.zeros(len(means))
    for i, expert in enumerate(experts):
        ax.barh(labels, means[expert], left=left, color=f"C{i}", label=_expert_label(expert))
        left += means[expert].to_numpy()
    ax.set_xlim(0, 1)
    ax.set_xlabel("mean gate weight")
    ax.set_ylabel("attack type")
    ax.set_title(f"{lead}mean gate weight per attack type", fontsize=10, pad=24)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(experts), frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_attributions(summary, path, *, top=15, normalize=True, title=None, caption=None):
    """Write a heat map of mean |contribution| per feature (rows) and attack type (columns).

    Parameters
    ----------
    summary : DataFrame
        From :func:`moeids.analysis.attribution_summary`.
    path : str or path-like
        The PNG file to write (its folder is created if absent).
    top : int, default=15
        Features shown: the ``top`` most important over all flows.
    normalize : bool, default=True
        Colour each column by its share of that column's total over all features (so
        that rare attack types with large contributions do not wash out the others);
        False colours the mean |contribution| itself.
    title : str, optional
        Figure title.
    caption : str, optional
        Small print at the bottom (e.g. the command that produced it).

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from moeids import FeatureSplitter, MoEClassifier
    >>> from moeids.datasets import load_sample
    >>> flows = load_sample()  # every tenth flow, a tiny network: a fast example
    >>> X, y, kind = flows.data.iloc[::10], flows.target.iloc[::10], flows.attack_type.iloc[::10]
    >>> tiny = dict(d_model=8, n_heads=2, n_layers=1, epochs=2, pretrain_epochs=0, refit_epochs=0)
    >>> model = make_pipeline(FeatureSplitter(), MoEClassifier(random_state=0, **tiny)).fit(X, y)
    >>> import os, tempfile
    >>> from moeids.analysis import attribution_summary, flow_attributions, plot_attributions
    >>> summary = attribution_summary(flow_attributions(model, X.iloc[:20]), kind.iloc[:20])
    >>> path = plot_attributions(summary, os.path.join(tempfile.mkdtemp(), "attributions.png"))
    >>> path.name, path.stat().st_size > 0
    ('attributions.png', True)
    """
    Figure = _figure_class()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    shown = (summary / summary.sum()).head(top) if normalize else summary.head(top)
    fig = Figure(figsize=(2.5 + 0.55 * shown.shape[1], 1.5 + 0.32 * len(shown)))
    ax = fig.subplots()
    image = ax.imshow(shown.to_numpy(), aspect="auto", cmap="viridis")
    ax.set_xticks(range(shown.shape[1]), list(shown.columns), rotation=60, ha="right")
    ax.set_yticks(range(len(shown)), list(shown.index))
    label = "share of the column's total" if normalize else "mean |contribution| (log-odds)"
    fig.colorbar(image, ax=ax, label=label)
    ax.set_title(title or "mean |feature contribution| per attack type", fontsize=10)
    _finish(fig, caption)
    fig.savefig(path, dpi=100)
    return path
