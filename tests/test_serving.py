"""The REST service against a real uvicorn server on 127.0.0.1 (tiny models, bundled sample)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402

from moeids import FeatureSplitter, MoEClassifier  # noqa: E402
from moeids.datasets import load_sample  # noqa: E402
from moeids.serving import create_app  # noqa: E402
from moeids.serving.batching import MicroBatcher, Overloaded  # noqa: E402
from moeids.serving.flows import FeatureSpec, parse_flows  # noqa: E402
from moeids.serving.inference import Scorer  # noqa: E402
from moeids.serving.security import read_token  # noqa: E402

TINY = dict(d_model=8, n_layers=1, n_heads=1, epochs=1, pretrain_epochs=0, random_state=0)
TOKEN = "test-token-0123456789abcdef"
ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sample():
    flows = load_sample()
    X_train, X_test, y_train, _, t_train, _ = train_test_split(
        flows.data,
        flows.target,
        flows.attack_type,
        train_size=400,
        test_size=200,
        stratify=flows.target,
        random_state=0,
    )
    return X_train, y_train, t_train, X_test


@pytest.fixture(scope="module")
def model(sample):
    X_train, y_train, _, _ = sample
    return make_pipeline(FeatureSplitter(), MoEClassifier(**TINY)).fit(X_train, y_train)


@contextmanager
def running(app):
    """A real uvicorn server for ``app`` on 127.0.0.1 (a free port), stopped on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(400):
            if server.started:
                break
            time.sleep(0.025)
        else:
            raise RuntimeError("the server did not start within 10 s")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def url(model):
    app = create_app(model, max_flows=300, max_body_bytes=2**20, card={"name": "tiny"})
    with running(app) as base:
        yield base


def post(base, body, **kwargs):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{base}/predict", content=content, timeout=30, **kwargs)


def records(frame):
    """Flows as JSON objects, floats exact (Python's repr round-trips)."""
    return frame.to_dict("records")


def test_probabilities_equal_the_pipelines_predict_proba(url, model, sample):
    X = sample[3].iloc[:40]
    response = post(url, records(X))
    assert response.status_code == 200
    decisions = response.json()["decisions"]
    proba = np.array([d["attack_probability"] for d in decisions])
    np.testing.assert_allclose(proba, model.predict_proba(X)[:, 1], rtol=0, atol=1e-6)
    assert [d["label"] for d in decisions] == model.predict(X).tolist()
    gating = model[-1].predict_gating(model[0].transform(X))
    np.testing.assert_allclose(
        [d["gate_temporal"] for d in decisions], gating["temporal"], atol=1e-6
    )
    assert all(d["missing_features"] == [] for d in decisions)
    assert response.headers["x-request-id"] == response.json()["request_id"]


def test_one_object_a_list_and_a_flows_object_give_the_same_decision(url, sample):
    flow = records(sample[3].iloc[:1])[0]
    bodies = (flow, [flow], {"flows": [flow]})
    decisions = [post(url, body).json()["decisions"] for body in bodies]
    assert decisions[0] == decisions[1] == decisions[2]
    assert len(decisions[0]) == 1


def test_absent_and_null_fields_are_missing_features_not_zeros(url, model, sample):
    X = sample[3].iloc[:2].copy()
    flow = records(X.iloc[:1])[0]
    del flow["Flow Duration"]
    flow["Flow IAT Max"] = None
    X.loc[X.index[0], ["Flow Duration", "Flow IAT Max"]] = np.nan
    zeros = X.iloc[:1].fillna(0)
    decision = post(url, [flow]).json()["decisions"][0]
    assert sorted(decision["missing_features"]) == ["Flow Duration", "Flow IAT Max"]
    expected = model.predict_proba(X.iloc[:1])[0, 1]
    assert decision["attack_probability"] == pytest.approx(expected, abs=1e-6)
    assert model.predict_proba(zeros)[0, 1] != pytest.approx(expected, abs=1e-6)


def test_rows_with_different_fields_are_read_as_rows_with_the_same_fields(url, sample):
    uniform = records(sample[3].iloc[:3])  # one field list: read column by column
    uniform[2]["Flow Duration"] = None
    mixed = [uniform[0], dict(reversed(uniform[1].items())), dict(uniform[2])]  # row by row
    del mixed[2]["Flow Duration"]
    expected, got = post(url, uniform).json(), post(url, mixed).json()
    assert got["decisions"] == expected["decisions"]
    assert expected["decisions"][2]["missing_features"] == ["Flow Duration"]


def test_header_styles_of_the_splitter_are_accepted(url, sample):
    flow = records(sample[3].iloc[:1])[0]
    styled = {(f" {k}" if i % 2 else f"\ufeff{k} "): v for i, (k, v) in enumerate(flow.items())}
    plain, fancy = post(url, flow).json(), post(url, styled).json()
    assert fancy["decisions"] == plain["decisions"]
    assert fancy["unknown_fields"] == []


def test_text_in_a_categorical_field_is_a_category(url, model, sample):
    flows = records(sample[3].iloc[:2])
    flows[0]["Protocol"] = "tcp"  # never seen in fit: the unknown category
    decisions = post(url, flows).json()["decisions"]
    X = sample[3].iloc[:2].astype({"Protocol": object})
    X.iloc[0, X.columns.get_loc("Protocol")] = "tcp"
    proba = [d["attack_probability"] for d in decisions]
    np.testing.assert_allclose(proba, model.predict_proba(X)[:, 1], rtol=0, atol=1e-6)


@pytest.mark.filterwarnings("ignore::moeids.features.splitter.MissingFeaturesWarning")
def test_flows_named_by_another_extractor_are_read_as_the_splitter_reads_them(url, model, sample):
    from moeids.features.vocabulary import PROFILES

    names = {canonical: name for name, canonical in PROFILES["nfstream"].names.items()}
    X = sample[3].iloc[:10]
    X = X[[c for c in X.columns if c in names]].rename(columns=names)  # NFStream's names
    X.attrs = {}  # the sample's profile travels in attrs: let the splitter detect NFStream
    response = post(url, records(X)).json()
    proba = [d["attack_probability"] for d in response["decisions"]]
    np.testing.assert_allclose(proba, model.predict_proba(X)[:, 1], rtol=0, atol=1e-6)
    assert response["unknown_fields"] == []


def test_unknown_fields_are_ignored_and_reported(url, sample):
    flow = records(sample[3].iloc[:1])[0] | {"Flow ID": "10.0.0.1-10.0.0.2-80"}
    body = post(url, flow).json()
    assert body["unknown_fields"] == ["Flow ID"]


_OK = {"Flow Duration": 120, "Total Fwd Packet": 2}
_BAD_INPUT = {
    "not JSON": (b"{not json", 400, ["not valid JSON"]),
    "not UTF-8": (b'{"Flow Duration": "\xff"}', 400, ["not valid JSON"]),
    "a number as the body": (b"42", 422, ["JSON object"]),
    "a row that is a list": ([_OK, [1, 2]], 422, ["row 1", "JSON object"]),
    "a string in a numeric field": (
        [_OK, {"Flow Duration": "abc"}],
        422,
        ["row 1", "'Flow Duration'", "'abc'"],
    ),
    "a string of digits in a numeric field": ([{"Flow Duration": "12"}], 422, ["row 0"]),
    "true in a numeric field": ([{"Flow Duration": True}], 422, ["'Flow Duration'", "true"]),
    "an object in a categorical field": ([{"Protocol": {}}], 422, ["'Protocol'", "object"]),
    "NaN token": (b'[{"Flow Duration": NaN}]', 422, ["row 0", "'Flow Duration'", "NaN"]),
    "Infinity token": (b'{"Flow IAT Max": Infinity}', 422, ["'Flow IAT Max'", "Infinity"]),
    "-Infinity token": (b'[{"Flow Duration": 1}, {"Fwd IAT Min": -Infinity}]', 422, ["row 1"]),
    "a number beyond float64": (b'{"Flow Duration": 1e999}', 422, ["'Flow Duration'"]),
    "an integer beyond float64": (b'{"Flow Duration": 1' + b"0" * 400 + b"}", 422, ["row 0"]),
    "an empty batch": ([], 422, ["empty"]),
    "an empty flows list": ({"flows": []}, 422, ["empty"]),
    "flows that is not a list": ({"flows": {"a": 1}}, 422, ["'flows'"]),
    "unknown fields only": ([_OK, {"colour": "red"}], 422, ["row 1", "'colour'"]),
    "an empty flow": ([{}], 422, ["row 0"]),
    "two spellings of one field": ([{"Flow Duration": 1, " Flow Duration": 2}], 422, ["row 0"]),
    "deep nesting": (b"[" * 100_000, 400, ["too deeply"]),
    "over the flow limit": ([_OK] * 301, 413, ["301 flows", "300"]),
    "over the size limit": ([_OK | {"pad": "x" * 2**20}], 413, ["limit of 1048576"]),
}


@pytest.mark.parametrize("case", list(_BAD_INPUT))
def test_bad_input_gets_a_4xx_naming_row_and_field(url, case):
    body, status, phrases = _BAD_INPUT[case]
    response = post(url, body)
    assert response.status_code == status
    error = response.json()["error"]
    for phrase in phrases:
        assert phrase in error["message"]
    for leak in ("Traceback", ".py", "site-packages", str(ROOT)):
        assert leak not in response.text
    assert post(url, _OK).status_code == 200  # the service still answers


def test_a_body_over_the_limit_sent_in_chunks_gets_413(url):
    def chunks():
        yield b"["
        for _ in range(2000):
            yield json.dumps(_OK | {"pad": "x" * 1000}).encode() + b","
        yield b"{}]"

    response = httpx.post(f"{url}/predict", content=chunks(), timeout=30)
    assert response.status_code == 413
    assert "limit of 1048576 bytes" in response.json()["error"]["message"]


def test_every_error_is_listed_with_its_row_and_field(url):
    body = [{"Flow Duration": "a"}, _OK, {"Flow Duration": 1, "Fwd IAT Min": []}]
    errors = post(url, body).json()["error"]["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(0, "Flow Duration"), (2, "Fwd IAT Min")]


def test_a_large_batch_is_scored(url, sample):
    X = pd.concat([sample[3]] * 2).iloc[:300]  # parsed off the event loop (> 64 KiB)
    response = post(url, records(X))
    assert response.status_code == 200
    assert len(response.json()["decisions"]) == 300


def test_health_metadata_and_unknown_routes(url, model):
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    metadata = httpx.get(f"{url}/metadata").json()
    assert metadata["classes"] == [0, 1]
    assert metadata["features"] == model[0].feature_groups_
    assert metadata["decision_fields"][:2] == ["label", "attack_probability"]
    assert metadata["card"] == {"name": "tiny"}
    missing = httpx.get(f"{url}/nothing-here")
    assert missing.status_code == 404 and "error" in missing.json()
    assert httpx.get(f"{url}/predict").status_code == 405
    assert httpx.get(f"{url}/docs").status_code == 404  # no open API browser


def _samples(text):
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_flows_and_alerts(url, model, sample):
    X = sample[3].iloc[:7]
    before = _samples(httpx.get(f"{url}/metrics").text)
    post(url, records(X))
    after = _samples(httpx.get(f"{url}/metrics").text)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    labels = model.predict(X)
    assert grew("moeids_flows_scored_total", label="1") == (labels == 1).sum()
    assert grew("moeids_alerts_total") == (labels == 1).sum()
    assert grew("moeids_requests_total", endpoint="/predict", status="200") == 1
    assert grew("moeids_request_latency_seconds_count", endpoint="/predict") == 1


def test_concurrent_one_flow_requests_all_get_their_own_decision(url, model, sample):
    X = sample[3].iloc[:64]

    async def send_all():
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            bodies = [json.dumps(r) for r in records(X)]
            return await asyncio.gather(*(client.post("/predict", content=b) for b in bodies))

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [200] * len(X)
    proba = [r.json()["decisions"][0]["attack_probability"] for r in responses]
    np.testing.assert_allclose(proba, model.predict_proba(X)[:, 1], rtol=0, atol=1e-6)


def test_multiclass_models_give_a_probability_per_class(sample):
    X_train, _, types, X_test = sample
    model = make_pipeline(FeatureSplitter(), MoEClassifier(**TINY)).fit(X_train, types)
    with running(create_app(model)) as base:
        decisions = post(base, records(X_test.iloc[:5])).json()["decisions"]
    columns = [f"proba_{c}" for c in model.classes_]
    proba = np.array([[d[c] for c in columns] for d in decisions])
    np.testing.assert_allclose(proba, model.predict_proba(X_test.iloc[:5]), rtol=0, atol=1e-6)


def test_a_bare_classifier_takes_the_splitters_output_names(model, sample):
    Xt = model[0].transform(sample[3].iloc[:5])
    flows = [{k: (None if np.isnan(v) else v) for k, v in row.items()} for row in records(Xt)]
    with running(create_app(model[-1])) as base:
        decisions = post(base, flows).json()["decisions"]
    proba = [d["attack_probability"] for d in decisions]
    np.testing.assert_allclose(proba, model[-1].predict_proba(Xt)[:, 1], rtol=0, atol=1e-6)


def test_a_flow_the_model_refuses_gets_422_and_spares_its_batch(model, sample):
    Xt = model[0].transform(sample[3].iloc[:2])
    good, bad = ({k: (None if np.isnan(v) else v) for k, v in r.items()} for r in records(Xt))
    bad["categorical__Protocol"] = -1  # not a category code: MoEClassifier refuses it
    spec = FeatureSpec.from_model(model[-1])
    payloads = [parse_flows(json.dumps(f).encode(), spec, max_flows=1) for f in (good, bad)]
    scored_good, refused = Scorer(model[-1], spec)(payloads)  # one batch, scored alone
    expected = model[-1].predict_proba(Xt.iloc[:1])[0, 1]
    assert scored_good[0]["attack_probability"] == pytest.approx(expected, abs=1e-6)
    assert isinstance(refused, ValueError)
    with running(create_app(model[-1])) as base:
        response = post(base, bad)
    assert response.status_code == 422
    assert "categorical__Protocol" in response.json()["error"]["message"]


@pytest.mark.filterwarnings("ignore::moeids.features.splitter.MissingFeaturesWarning")
@pytest.mark.parametrize("profile", [None, "netflow-v5", "nfstream"])
def test_a_micro_batch_gets_the_decisions_of_score_flows_on_its_dataframe(model, sample, profile):
    from moeids.features.vocabulary import PROFILES
    from moeids.scoring import score_flows

    X = sample[3].iloc[:6]
    if profile is not None:  # netflow-v5: features it computes differently; nfstream: units
        names = {canonical: name for name, canonical in PROFILES[profile].names.items()}
        X = X[[c for c in X.columns if c in names]].rename(columns=names)
    flows = records(X)
    if profile is None:
        flows[0]["Protocol"] = "tcp"  # a text category
        flows[1]["Flow Duration"] = None  # a missing value
        del flows[2]["Dst Port"]  # an absent field
    spec = FeatureSpec.from_model(model)
    payload = parse_flows(json.dumps(flows).encode(), spec, max_flows=10)
    assert payload.profile == profile
    scorer = Scorer(model, spec)
    got = scorer._records(payload.numeric, payload.categorical, payload.profile)
    frame = spec.frame(payload.numeric, payload.categorical, payload.profile)
    assert got == score_flows(model, frame).to_dict("records")
    # the matrices went to the splitter directly, except where the names convert units
    assert (scorer.plans[profile] is None) == (profile == "nfstream")


def test_a_value_beyond_float32_is_refused_naming_its_field_and_spares_its_batch(model, sample):
    good, huge = records(sample[3].iloc[:2])
    huge["Flow Duration"] = 1e39
    spec = FeatureSpec.from_model(model)
    payloads = [parse_flows(json.dumps(f).encode(), spec, max_flows=1) for f in (good, huge)]
    scored_good, refused = Scorer(model, spec)(payloads)
    expected = model.predict_proba(sample[3].iloc[:1])[0, 1]
    assert scored_good[0]["attack_probability"] == pytest.approx(expected, abs=1e-6)
    assert isinstance(refused, ValueError)
    assert "'Flow Duration'" in str(refused) and "float32" in str(refused)


def test_create_app_refuses_inconsistent_limits(model):
    with pytest.raises(ValueError, match="max_queue"):
        create_app(model, max_flows=100, max_queue=10)
    with pytest.raises(ValueError, match="batch_max_wait_ms"):
        create_app(model, batch_max_wait_ms=-1)


# ---------------------------------------------------------------- security


@pytest.fixture(scope="module")
def secured(model):
    with running(create_app(model, token=TOKEN, rate_limit="8/minute")) as base:
        yield base


_PATHS = ["/predict", "/metadata", "/metrics"]
_WRONG = [None, "Bearer wrong-token-0123456789", TOKEN, ""]


@pytest.mark.parametrize("path", _PATHS)
@pytest.mark.parametrize("authorization", _WRONG)
def test_protected_endpoints_need_the_token(secured, path, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    # each case from its own loopback address, so that the rate limit does not interfere
    address = f"127.0.1.{_PATHS.index(path) * len(_WRONG) + _WRONG.index(authorization) + 1}"
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address)) as client:
        if path == "/predict":
            response = client.post(f"{secured}{path}", json=_OK, headers=headers)
        else:
            response = client.get(f"{secured}{path}", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in response.text


@pytest.mark.parametrize("path", _PATHS)
def test_the_right_token_is_let_in(secured, path):
    address = f"127.0.2.{_PATHS.index(path) + 1}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address)) as client:
        if path == "/predict":
            response = client.post(f"{secured}{path}", json=_OK, headers=headers)
        else:
            response = client.get(f"{secured}{path}", headers=headers)
    assert response.status_code == 200


def test_health_is_open(secured):
    assert httpx.get(f"{secured}/health").status_code == 200


def test_a_flooding_client_gets_429_while_another_still_gets_200(secured):
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def client(address):
        return httpx.Client(
            base_url=secured, headers=headers, transport=httpx.HTTPTransport(local_address=address)
        )

    with client("127.0.0.3") as flooder, client("127.0.0.4") as other:
        codes = [flooder.get("/metadata").status_code for _ in range(12)]
        assert codes == [200] * 8 + [429] * 4
        refused = flooder.get("/metadata")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert other.get("/metadata").status_code == 200


def test_cors_is_off_unless_configured(url, model):
    origin = {"Origin": "https://soc.example"}
    assert "access-control-allow-origin" not in httpx.get(f"{url}/health", headers=origin).headers
    app = create_app(model, cors_origins=["https://soc.example"])
    with running(app) as base:
        allowed = httpx.get(f"{base}/health", headers=origin).headers
    assert allowed["access-control-allow-origin"] == "https://soc.example"


def test_read_token_from_file_or_environment(tmp_path):
    path = tmp_path / "token"
    path.write_text(f"  {TOKEN}\n")
    assert read_token(path, environ={}) == TOKEN
    assert read_token(None, environ={"MOEIDS_API_TOKEN": TOKEN}) == TOKEN
    assert read_token(None, environ={}) is None
    path.write_text("short")
    with pytest.raises(ValueError, match="at least 16"):
        read_token(path, environ={})


# ---------------------------------------------------------------- micro-batching, overload


def _run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, timeout=30))


def test_concurrent_submissions_share_one_batch():
    batches = []

    def score(payloads):
        batches.append(list(payloads))
        return [p * 10 for p in payloads]

    async def scenario():
        batcher = MicroBatcher(score, max_flows=6, max_wait=30.0, max_queue=100)
        await batcher.start()
        results = await asyncio.gather(*(batcher.submit(k, 1) for k in range(6)))
        await batcher.stop()
        return results

    assert _run(scenario()) == [0, 10, 20, 30, 40, 50]
    assert batches == [[0, 1, 2, 3, 4, 5]]  # full at 6 flows: no wait for max_wait


def test_a_full_queue_refuses_at_once_and_loses_no_accepted_request():
    entered, release = threading.Event(), threading.Event()

    def score(payloads):
        entered.set()
        release.wait(timeout=20)
        return list(payloads)

    async def scenario():
        batcher = MicroBatcher(score, max_flows=1, max_wait=0.0, max_queue=2)
        await batcher.start()
        first = asyncio.ensure_future(batcher.submit("a", 1))
        await asyncio.to_thread(entered.wait, 20)  # "a" is being scored
        waiting = [asyncio.ensure_future(batcher.submit(x, 1)) for x in "bc"]
        await asyncio.sleep(0)
        with pytest.raises(Overloaded):
            await batcher.submit("d", 1)
        release.set()
        done = await asyncio.gather(first, *waiting)
        await batcher.stop()
        return done

    assert _run(scenario()) == ["a", "b", "c"]


def test_stop_scores_everything_accepted_first():
    async def scenario():
        batcher = MicroBatcher(list, max_flows=2, max_wait=10.0, max_queue=100)
        await batcher.start()
        pending = [asyncio.ensure_future(batcher.submit(k, 1)) for k in range(5)]
        await asyncio.sleep(0)
        await batcher.stop()
        return await asyncio.gather(*pending)

    assert _run(scenario()) == [0, 1, 2, 3, 4]


class _Gate(TransformerMixin, BaseEstimator):
    """Passes X through once ``release`` is set; sets ``entered`` when a batch arrives."""

    def __init__(self, entered=None, release=None):
        self.entered = entered
        self.release = release

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        self.entered.set()
        self.release.wait(timeout=20)
        return X

    def __sklearn_is_fitted__(self):
        return True


def test_an_overloaded_server_answers_503_and_scores_what_it_accepted(model, sample):
    entered, release = threading.Event(), threading.Event()
    gated = Pipeline([("split", model[0]), ("gate", _Gate(entered, release)), ("clf", model[-1])])
    app = create_app(gated, max_flows=1, batch_max_flows=1, batch_max_wait_ms=1, max_queue=2)
    flows = records(sample[3].iloc[:3])

    async def scenario(base):
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            first = asyncio.ensure_future(client.post("/predict", json=flows[0]))
            await asyncio.to_thread(entered.wait, 20)
            waiting = [asyncio.ensure_future(client.post("/predict", json=f)) for f in flows[1:]]
            for _ in range(500):
                text = (await client.get("/metrics")).text
                if "moeids_queued_flows 2.0" in text:
                    break
                await asyncio.sleep(0.01)
            refused = await client.post("/predict", json=flows[0])
            release.set()
            return refused, await asyncio.gather(first, *waiting)

    with running(app) as base:
        refused, accepted = asyncio.run(scenario(base))
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert [r.status_code for r in accepted] == [200, 200, 200]
    proba = [r.json()["decisions"][0]["attack_probability"] for r in accepted]
    np.testing.assert_allclose(proba, model.predict_proba(sample[3].iloc[:3])[:, 1], atol=1e-6)


# ---------------------------------------------------------------- the command line


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow  # a fresh interpreter imports torch and loads the model
def test_moeids_serve_runs_the_service_and_stops_on_sigterm(model, sample, tmp_path):
    import moeids

    path, token_file = tmp_path / "model.safetensors", tmp_path / "token"
    moeids.save(model, path)  # pickle-free
    token_file.write_text(TOKEN)
    port = _free_port()
    command = [sys.executable, "-m", "moeids", "serve", str(path)]
    command += ["--port", str(port), "--token-file", str(token_file), "--no-access-log"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("MOEIDS_API_TOKEN", None)
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.25)
        flow = records(sample[3].iloc[:1])
        assert post(base, flow).status_code == 401
        answer = post(base, flow, headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200
        expected = model.predict_proba(sample[3].iloc[:1])[0, 1]
        assert answer.json()["decisions"][0]["attack_probability"] == pytest.approx(expected)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, process.stderr.read()


def _start_serve(path, *options):
    """``python -m moeids serve path options`` on a free port, once /health answers."""
    port = _free_port()
    command = [sys.executable, "-m", "moeids", "serve", str(path), "--port", str(port)]
    command += ["--no-access-log", *options]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("MOEIDS_API_TOKEN", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.25)
    process.kill()
    raise RuntimeError(f"moeids serve did not start: {process.communicate()[1]}")


def _stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return process.returncode


def _scraped(base, name):
    """{labels: value} of the samples called ``name`` in the server's /metrics."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return {labels: value for (n, labels), value in _samples(text).items() if n == name}


@pytest.mark.slow  # three fresh interpreters import torch and load the model
def test_moeids_serve_with_two_workers_answers_from_both_and_counts_all(model, sample, tmp_path):
    import moeids

    path = tmp_path / "model.safetensors"
    moeids.save(model, path)
    X = sample[3]
    expected = model.predict_proba(X)[:, 1]
    process, base = _start_serve(path, "--workers", "2", "--threads", "1")
    sent = flows = 0
    try:
        workers = {}
        while len(workers) < 2 and sent < 400:  # each request on a new connection
            rows = X.iloc[sent % 190 : sent % 190 + 1 + sent % 3]
            answer = post(base, records(rows))
            assert answer.status_code == 200
            proba = [d["attack_probability"] for d in answer.json()["decisions"]]
            first = sent % 190
            np.testing.assert_allclose(proba, expected[first : first + len(rows)], atol=1e-6)
            sent, flows = sent + 1, flows + len(rows)
            if sent % 10 == 0:
                workers = _scraped(base, "moeids_worker_flows_scored")
        workers = _scraped(base, "moeids_worker_flows_scored")
        assert len(workers) == 2, f"one worker answered all {sent} requests"
        assert sum(workers.values()) == flows
        requests = _scraped(base, "moeids_requests_total")
        assert requests[(("endpoint", "/predict"), ("status", "200"))] == sent
        assert sum(_scraped(base, "moeids_flows_scored_total").values()) == flows
        assert _scraped(base, "moeids_batch_flows_sum")[()] == flows
        assert httpx.get(f"{base}/metadata").json()["classes"] == model.classes_.tolist()
    finally:
        returncode = _stop(process)
    assert returncode == 0, process.stderr.read()


@pytest.mark.slow  # three fresh interpreters import torch and load the model
@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="per-worker sockets and /proc: Linux"
)
def test_moeids_serve_workers_listen_on_their_own_sockets_and_a_dead_one_stops_all(model, tmp_path):
    import moeids

    path = tmp_path / "model.safetensors"
    moeids.save(model, path)
    process, _ = _start_serve(path, "--workers", "2", "--threads", "1")
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert len(children) == 2
        listening = []
        for pid in children:
            fds = Path(f"/proc/{pid}/fd")
            links = [os.readlink(fd) for fd in fds.iterdir() if fd.is_symlink()]
            listening.append({link for link in links if link.startswith("socket:")})
        assert listening[0] and listening[1]
        assert not listening[0] & listening[1]  # no socket shared by the two workers
        os.kill(int(children[0]), signal.SIGKILL)
        assert process.wait(timeout=60) == 1  # the other worker was stopped, not left serving
        assert "a worker process ended by itself" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow  # a fresh interpreter imports torch and loads the model
def test_moeids_serve_with_one_worker_is_one_process_with_its_own_metrics(model, sample, tmp_path):
    import moeids

    path = tmp_path / "model.safetensors"
    moeids.save(model, path)
    process, base = _start_serve(path, "--workers", "1")
    try:
        assert post(base, records(sample[3].iloc[:3])).status_code == 200
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        if children.exists():
            assert children.read_text().split() == []  # no worker processes
        assert _scraped(base, "moeids_worker_flows_scored") == {}
        assert sum(_scraped(base, "moeids_flows_scored_total").values()) == 3
    finally:
        returncode = _stop(process)
    assert returncode == 0, process.stderr.read()


@pytest.mark.slow  # a fresh interpreter imports torch
def test_moeids_serve_with_workers_refuses_a_broken_model_before_starting_them(tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_text("not a model")
    command = [sys.executable, "-m", "moeids", "serve", str(path), "--workers", "2"]
    command += ["--port", str(_free_port()), "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "broken.safetensors is not a file written by" in done.stderr
    assert "Started parent process" not in done.stderr


def test_moeids_serve_refuses_fewer_than_one_worker(tmp_path, capsys):
    from moeids.cli import main

    assert main(["serve", str(tmp_path / "m.safetensors"), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_default_threads_share_the_cpus_among_workers(monkeypatch):
    from moeids.cli.serve import default_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert [default_threads(w) for w in (1, 2, 4, 8, 16)] == [7, 4, 2, 1, 1]
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert [default_threads(w) for w in (1, 2)] == [1, 1]


def test_moeids_serve_refuses_a_pickle_without_allow_pickle(model, tmp_path, capsys):
    import joblib

    from moeids.cli import main

    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    assert main(["serve", str(path)]) == 2
    assert "--allow-pickle" in capsys.readouterr().err


def test_moeids_serve_takes_no_token_argument(capsys):
    from moeids.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "model", "--token", TOKEN])
    assert exit_info.value.code == 2
