"""Comparing with XGBoost: both tuned in the same GridSearchCV, scored on the same flows.

Needs xgboost (``pip install "moeids[bench]"``). The MoE pipeline is an ordinary scikit-learn
estimator, so ``GridSearchCV`` tunes it like any other; here both models get a two-point grid
on a 2,000-flow subset of the bundled real sample (small settings, so the numbers are not the
benchmark's: see ``docs/results/compare.md`` for those). Both are then scored with every
column and with only the columns a Zeek ``conn.log`` export has: the MoE pipeline marks the
rest missing, XGBoost gets NaN for them (its own missing-value handling)::

    python examples/xgboost_gridsearch.py
"""

import warnings

from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from xgboost import XGBClassifier

from moeids import FeatureSplitter, MoEClassifier
from moeids.analysis import sensor_profile_scores
from moeids.datasets import load_sample
from moeids.features import MissingFeaturesWarning

flows = load_sample()
X, _, y, _, kind, _ = train_test_split(
    flows.data,
    flows.target,
    flows.attack_type,
    train_size=2000,
    stratify=flows.attack_type,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=kind, random_state=0)

small = {"n_layers": 1, "epochs": 10, "pretrain_epochs": 0, "class_weight": "balanced"}
moe = GridSearchCV(
    make_pipeline(FeatureSplitter(), MoEClassifier(**small, random_state=0, verbose=0)),
    {"moeclassifier__d_model": [8, 16]},
    scoring="f1",
    cv=2,
)
columns = list(X_train.columns)
xgb = GridSearchCV(
    make_pipeline(
        FunctionTransformer(lambda frame: frame.reindex(columns=columns)),  # absent -> NaN
        XGBClassifier(n_estimators=100, n_jobs=1, random_state=0),
    ),
    {"xgbclassifier__max_depth": [3, 6]},
    scoring="f1",
    cv=2,
)
warnings.simplefilter("ignore", MissingFeaturesWarning)
for name, search in [("MoE", moe), ("XGBoost", xgb)]:
    search.fit(X_train, y_train)
    print(f"{name}: best {search.best_params_}, cross-validated F1 {search.best_score_:.4f}")
    scores = sensor_profile_scores(search.best_estimator_, X_test, y_test)
    print(scores.loc[["all columns", "zeek_conn"], ["n_features", "f1"]].round(4).to_string())
