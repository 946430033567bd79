"""Serving over HTTP: the REST service on 127.0.0.1, asked with httpx.

Needs the ``serve`` extra (``pip install "moeids[serve]"``: FastAPI, uvicorn, httpx, ...).
A small model trained on the bundled sample is served by ``moeids.serving.create_app``
under uvicorn on a free port of 127.0.0.1, in a background thread. The script posts one flow
and a batch to ``POST /predict`` (a field left out or sent as ``null`` is a missing feature,
never a zero; a bad record is refused with 422 naming its row and field), reads
``GET /health`` and ``GET /metrics``, and stops the server. ``moeids serve ids.safetensors``
runs the same service from the command line (docs/deploy.md)::

    python examples/serve_rest.py
"""

import socket
import threading
import time

import httpx
import uvicorn
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from moeids import FeatureSplitter, MoEClassifier
from moeids.datasets import load_sample
from moeids.serving import create_app

sample = load_sample()
X_train, X_test, y_train, y_test = train_test_split(
    sample.data, sample.target, train_size=1500, stratify=sample.attack_type, random_state=0
)
small = {"d_model": 16, "n_layers": 1, "epochs": 10, "pretrain_epochs": 0}
model = make_pipeline(
    FeatureSplitter(), MoEClassifier(**small, class_weight="balanced", random_state=0, verbose=0)
).fit(X_train, y_train)

# The real service: uvicorn on a socket bound to a free port of 127.0.0.1.
app = create_app(model, max_flows=100)
sock = socket.socket()
sock.bind(("127.0.0.1", 0))
url = f"http://127.0.0.1:{sock.getsockname()[1]}"
server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
thread.start()
deadline = time.monotonic() + 30
while not server.started:
    if time.monotonic() > deadline or not thread.is_alive():
        raise RuntimeError("the server did not start within 30 s")
    time.sleep(0.05)

try:
    with httpx.Client(base_url=url, timeout=30) as client:
        print("GET /health:", client.get("/health").json())

        # One flow: a JSON object of feature name -> value.
        flow = X_test.iloc[:1].to_dict("records")[0]
        answer = client.post("/predict", json=flow).json()
        decision = answer["decisions"][0]
        print(f"one flow (true label {y_test.iloc[0]}):", decision)

        # A batch of two benign flows and three attacks; a field absent (Flow Duration) or
        # null (Flow IAT Max) is a missing feature.
        rows = y_test[y_test == 0].index[:2].append(y_test[y_test == 1].index[1:4])
        batch = X_test.loc[rows].to_dict("records")
        del batch[0]["Flow Duration"]
        batch[0]["Flow IAT Max"] = None
        batch[1]["Flow ID"] = "10.0.0.5-10.0.0.9-443-6"  # not a feature: ignored, and listed
        answer = client.post("/predict", json={"flows": batch}).json()
        print("batch of", len(batch), "flows:")
        for truth, decision in zip(y_test[rows], answer["decisions"], strict=True):
            print(
                f"  true {truth}  label {decision['label']}  attack_probability "
                f"{decision['attack_probability']:.3f}  missing {decision['missing_features']}"
            )
        print("  unknown fields:", answer["unknown_fields"])

        # A bad record is refused, the whole request with it: 422 naming its row and field.
        bad = X_test.iloc[6:8].to_dict("records")
        bad[1]["Flow Duration"] = "fast"
        refused = client.post("/predict", json=bad)
        print(f"bad record: {refused.status_code}", refused.json()["error"]["message"])

        metrics = client.get("/metrics").text.splitlines()
        shown = ("moeids_requests_total", "moeids_flows_scored_total", "moeids_alerts_total")
        print("GET /metrics (a few lines):")
        for line in metrics:
            if line.startswith(shown):
                print("  " + line)
finally:
    server.should_exit = True  # uvicorn scores the accepted flows, then returns
    thread.join(timeout=30)
    sock.close()
print("server stopped:", not thread.is_alive())
