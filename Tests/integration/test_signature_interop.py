"""RFC 9421 interoperability, checked against an independent implementation
(the PyPI package `http-message-signatures`) in both directions:

(a) the gateway signs → Python verifies (and rejects tampering / a wrong key);
(b) Python signs → the reference receiver verifies, with the status codes the
    receiver promises for each kind of bad request.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import re

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)

from conftest import (
    receiver_tail,
    GATEWAY_ID,
    Button,
    alert_body,
    content_digest,
    key_id_of,
    keygen,
    make_gateway,
    query,
    start_gateway,
    start_receiver,
    uuid7,
    wait_until,
)

COMPONENTS = ("@method", "@target-uri", "content-type", "content-digest")
UUID7_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def verifier_for(key_id: str, public_key: Ed25519PublicKey) -> HTTPMessageVerifier:
    return HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={key_id: public_key}, private_keys={}),
    )


def rebuild(port: int, headers: list[tuple[str, str]], body: bytes) -> requests.PreparedRequest:
    """The captured request as a `requests` message, for the verifier."""
    return requests.Request("POST", f"http://127.0.0.1:{port}/v1/alerts", headers=dict(headers), data=body).prepare()


# ---------------------------------------------------------------------------
# (a) gateway → Python verifier
# ---------------------------------------------------------------------------

def test_gateway_signature_verifies_with_independent_implementation(tmp_path, procs, recording_server):
    key = keygen(tmp_path / "gateway.key")
    raw_pub = base64.b64decode(key.public_b64)
    assert len(raw_pub) == 32
    assert key.key_id == key_id_of(raw_pub), "keygen's key id must be sha256(raw public key)[:16 hex]"
    public_key = Ed25519PublicKey.from_public_bytes(raw_pub)

    # The PEM keygen wrote is PKCS#8 Ed25519 that `cryptography` reads, with the same public key.
    pem_key = serialization.load_pem_private_key(key.path.read_bytes(), password=None)
    assert isinstance(pem_key, Ed25519PrivateKey)
    assert pem_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw_pub

    setup = make_gateway(tmp_path, f"http://127.0.0.1:{recording_server.port}", key=key)
    gw = start_gateway(procs, setup)
    button = Button(setup.fifo)
    try:
        button.click()
        captured = wait_until(lambda: recording_server.captured("/v1/alerts"), 20,
                              "a POST /v1/alerts at the recording server", diagnostics=gw.describe)
    finally:
        button.close()

    req = captured[0]
    body = req.body
    doc = json.loads(body)
    assert doc["gateway_id"] == GATEWAY_ID
    assert doc["kind"] == "panic" and doc["zone"] == 501 and doc["input"] == "btn"
    assert UUID7_RE.match(doc["id"]), doc["id"]

    # Content-Digest is RFC 9530 sha-256 over exactly the body bytes.
    expected_digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    assert req.header("Content-Digest") == expected_digest
    assert req.header("Content-Type") == "application/json"

    prepared = rebuild(recording_server.port, req.headers, body)
    results = verifier_for(key.key_id, public_key).verify(prepared, require_components=COMPONENTS, body=body)
    assert len(results) == 1
    result = results[0]
    covered = [c.strip('"') for c in result.covered_components if c != '"@signature-params"']
    for c in COMPONENTS:
        assert c in covered, f"{c} not covered; covered: {covered}"
    assert result.covered_components['"@target-uri"'] == f"http://127.0.0.1:{recording_server.port}/v1/alerts"
    assert result.covered_components['"@method"'] == "POST"
    assert result.parameters["keyid"] == key.key_id
    assert result.parameters["alg"] == "ed25519"
    assert isinstance(result.parameters["created"], int)
    assert abs(result.parameters["created"] - datetime.datetime.now().timestamp()) < 120
    assert result.nonce == doc["id"], "the nonce must be the alert id"
    assert result.body == body, "the verifier must have checked the body against the signed digest"

    # One body byte changed: the digest no longer matches (recomputed here),
    # and the verifier refuses the body.
    tampered = bytearray(body)
    i = body.index(b'"zone":501') + len(b'"zone":50')
    tampered[i] = ord("9")
    tampered = bytes(tampered)
    assert content_digest(tampered) != req.header("Content-Digest")
    with pytest.raises(InvalidSignature):
        verifier_for(key.key_id, public_key).verify(
            rebuild(recording_server.port, req.headers, tampered), require_components=COMPONENTS, body=tampered)

    # Tampered body with the digest header recomputed to match: now the signature breaks.
    headers2 = [(k, content_digest(tampered) if k.lower() == "content-digest" else v) for k, v in req.headers]
    with pytest.raises(InvalidSignature):
        verifier_for(key.key_id, public_key).verify(
            rebuild(recording_server.port, headers2, tampered), require_components=COMPONENTS, body=tampered)

    # A different key under the same keyid refuses the genuine request.
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(InvalidSignature):
        verifier_for(key.key_id, other).verify(prepared, require_components=COMPONENTS, body=body)

    # The same request with the right key still verifies (the failures above are not flukes).
    assert verifier_for(key.key_id, public_key).verify(prepared, require_components=COMPONENTS, body=body)


def test_gateway_heartbeat_signature_verifies(tmp_path, procs, recording_server):
    """Heartbeats are signed the same way, with the heartbeat id as nonce."""
    key = keygen(tmp_path / "gateway.key")
    public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key.public_b64))
    setup = make_gateway(tmp_path, f"http://127.0.0.1:{recording_server.port}", key=key)
    gw = start_gateway(procs, setup)
    beats = wait_until(lambda: recording_server.captured("/v1/heartbeats"), 15,
                       "a POST /v1/heartbeats", diagnostics=gw.describe)
    beat = beats[0]
    prepared = requests.Request("POST", f"http://127.0.0.1:{recording_server.port}/v1/heartbeats",
                                headers=dict(beat.headers), data=beat.body).prepare()
    result = verifier_for(key.key_id, public_key).verify(prepared, require_components=COMPONENTS, body=beat.body)[0]
    doc = json.loads(beat.body)
    assert doc["kind"] == "heartbeat" and doc["gateway_id"] == GATEWAY_ID and doc["interval_s"] == 1
    assert result.nonce == doc["id"]
    assert result.parameters["keyid"] == key.key_id


# ---------------------------------------------------------------------------
# (b) Python signer → reference receiver
# ---------------------------------------------------------------------------

class PySigner:
    def __init__(self, private_key: Ed25519PrivateKey, key_id: str | None = None):
        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = key_id or key_id_of(raw)
        self.signer = HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519,
            key_resolver=MappingKeyResolver(public_keys={}, private_keys={self.key_id: private_key}),
        )

    def request(self, url: str, body: bytes, nonce: str, created: datetime.datetime | None = None) -> requests.PreparedRequest:
        req = requests.Request("POST", url, headers={"Content-Type": "application/json"}, data=body).prepare()
        # body= makes the package compute Content-Digest itself (RFC 9530 sha-256).
        self.signer.sign(req, key_id=self.key_id, created=created or datetime.datetime.now(datetime.timezone.utc),
                         nonce=nonce, include_alg=True, covered_component_ids=COMPONENTS, body=body)
        assert req.headers["Content-Digest"] == content_digest(body)
        return req


def send(prep: requests.PreparedRequest) -> requests.Response:
    with requests.Session() as s:
        return s.send(prep, timeout=10)


def test_independent_signer_against_receiver(tmp_path, procs, receiver_engine):
    key = keygen(tmp_path / "gw.key")
    private = serialization.load_pem_private_key(key.path.read_bytes(), password=None)
    assert isinstance(private, Ed25519PrivateKey)
    rx = start_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine)
    url = f"{rx.base_url}/v1/alerts"
    signer = PySigner(private)
    assert signer.key_id == key.key_id

    def check(resp: requests.Response, status: int, what: str):
        assert resp.status_code == status, f"{what}: expected {status}, got {resp.status_code} {resp.text!r}"

    # A well-formed alert: 201, then the very same request again: 200 (duplicate).
    aid, body = alert_body(sequence=1)
    first = signer.request(url, body, nonce=aid)
    # Python's own label and parameter order, not a copy of the gateway's.
    assert first.headers["Signature-Input"].startswith('pyhms=("@method" "@target-uri" "content-type" "content-digest")')
    r = send(first)
    check(r, 201, "new alert")
    assert r.json() == {"status": "created", "id": aid}
    r = send(first.copy())
    check(r, 200, "same alert again")
    assert r.json()["status"] == "duplicate"
    # Re-signed afresh (new created, new signature), still the same alert: 200.
    check(send(signer.request(url, body, nonce=aid)), 200, "same alert re-signed")

    stored = query(rx.database, "SELECT id, sequence, gateway_id, key_id, kind, test, body FROM alerts")
    assert len(stored) == 1
    assert stored[0][:6] == (aid, 1, GATEWAY_ID, key.key_id, "panic", 0)
    assert bytes(stored[0][6]) == body, "the receiver must store the exact signed bytes"

    # Tampered body, digest left as it was: 400 (malformed: digest mismatch).
    aid2, body2 = alert_body(sequence=2)
    good2 = signer.request(url, body2, nonce=aid2)
    tampered = body2.replace(b'"zone":501', b'"zone":509')
    assert tampered != body2
    bad = good2.copy()
    bad.body = tampered
    bad.headers["Content-Length"] = str(len(tampered))
    r = send(bad)
    check(r, 400, "tampered body, stale digest")
    assert "digest" in r.text

    # Body and digest both changed, signature kept: 401 (signature does not verify).
    bad = good2.copy()
    bad.body = tampered
    bad.headers["Content-Length"] = str(len(tampered))
    bad.headers["Content-Digest"] = content_digest(tampered)
    check(send(bad), 401, "tampered body with recomputed digest")

    # Signed by a key the receiver does not know: 401.
    stranger = PySigner(Ed25519PrivateKey.generate())
    r = send(stranger.request(url, body2, nonce=aid2))
    check(r, 401, "unknown key")
    assert stranger.key_id in r.text

    # An unknown key claiming the known keyid: 401 as well.
    impostor = PySigner(Ed25519PrivateKey.generate(), key_id=key.key_id)
    check(send(impostor.request(url, body2, nonce=aid2)), 401, "wrong key under a known keyid")

    # Created 10 minutes ago (window 300 s): 401.
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10)
    check(send(signer.request(url, body2, nonce=aid2, created=old)), 401, "stale signature")

    # No Signature header: 400.
    bad = good2.copy()
    del bad.headers["Signature"]
    check(send(bad), 400, "missing Signature header")

    # Nothing of the above was stored.
    assert query(rx.database, "SELECT COUNT(*) FROM alerts WHERE sequence = 2")[0][0] == 0

    # The genuine request for sequence 2 still goes through.
    check(send(good2), 201, "genuine alert 2")

    # Sequence 2 again with a new id: a new signed alert all the same (a gateway
    # whose outbox was lost starts over) -- stored, flagged, never refused.
    aid3, body3 = alert_body(sequence=2)
    assert aid3 != aid2
    r = send(signer.request(url, body3, nonce=aid3))
    check(r, 201, "same sequence, new id")
    assert "was used before" in r.json()["warning"]
    assert sorted(query(rx.database, "SELECT id FROM alerts WHERE sequence = 2")) == sorted([(aid2,), (aid3,)])
    assert "SEQ-REUSE" in receiver_tail(rx.database)

    # Well signed but the nonce is not the alert id: 400.
    aid4, body4 = alert_body(sequence=4)
    check(send(signer.request(url, body4, nonce=uuid7())), 400, "nonce differs from alert id")

    assert query(rx.database, "SELECT sequence FROM alerts ORDER BY sequence") == [(1,), (2,), (2,)]
