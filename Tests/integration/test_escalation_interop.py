"""An escalation webhook checked by an independent RFC 9421 implementation
(the PyPI package `http-message-signatures`): a real `panic-gateway`
presses, nobody acknowledges, the real `panic-receiver` escalates to a
webhook on loopback, and the webhook's owner verifies the request with the
receiver's public key alone — and refuses it with a byte changed or another
key."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import InvalidSignature

import conftest as c
from test_signature_interop import COMPONENTS, verifier_for


def test_an_escalation_webhook_verifies_with_an_independent_implementation(tmp_path, procs, recording_server):
    gateway_key = c.keygen(tmp_path / "gateway.key")
    escalation_key = c.keygen(tmp_path / "escalation.key")   # the receiver loads it (else it makes its own)
    hook = f"http://127.0.0.1:{recording_server.port}/hook"
    extra = f'''
[console]
bcrypt_cost = 4

[console.escalation]
after_s = 5
key_file = "{escalation_key.path}"

[[console.escalation.webhooks]]
name = "police"
url = "{hook}"
'''
    rcv = c.start_receiver(procs, tmp_path, [gateway_key.public_b64], extra=extra)
    setup = c.make_gateway(tmp_path, rcv.base_url, key=gateway_key, heartbeat_interval_s=30)
    c.start_gateway(procs, setup)
    button = c.Button(setup.fifo)
    try:
        button.click()
        captured = c.wait_until(lambda: recording_server.captured("/hook"), 30, "the escalation at the webhook",
                                diagnostics=rcv.proc.describe)
    finally:
        button.close()

    req = captured[0]
    doc = json.loads(req.body)
    assert doc["type"] == "escalation" and doc["incident"]["kind"] == "panic" and doc["incident"]["input"] == "btn", doc
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(escalation_key.public_b64))
    prepared = requests.Request("POST", hook, headers=dict(req.headers), data=req.body).prepare()
    results = verifier_for(escalation_key.key_id, public).verify(prepared, require_components=COMPONENTS, body=req.body)
    assert len(results) == 1
    result = results[0]
    assert result.parameters["keyid"] == escalation_key.key_id and result.parameters["alg"] == "ed25519"
    assert result.covered_components['"@target-uri"'] == hook
    assert result.nonce and result.nonce.startswith("escalation-"), result.nonce
    assert result.body == req.body, "the verifier checked the body against the signed digest"

    # A byte changed (the digest recomputed to match): the signature breaks.
    tampered = req.body.replace(b'"panic"', b'"trble"', 1)
    assert tampered != req.body
    headers = [(k, c.content_digest(tampered) if k.lower() == "content-digest" else v) for k, v in req.headers]
    with pytest.raises(InvalidSignature):
        verifier_for(escalation_key.key_id, public).verify(
            requests.Request("POST", hook, headers=dict(headers), data=tampered).prepare(), require_components=COMPONENTS, body=tampered)
    # Another key under the same key id: refused.
    other = Ed25519PublicKey.from_public_bytes(base64.b64decode(gateway_key.public_b64))
    with pytest.raises(InvalidSignature):
        verifier_for(escalation_key.key_id, other).verify(prepared, require_components=COMPONENTS, body=req.body)

    # Delivered once, and the audit log says so.
    assert c.wait_until(lambda: c.query(rcv.database, "SELECT count(*) FROM audit WHERE action = 'escalation-delivered'")[0][0] == 1,
                        10, "the delivery audited")
    assert len(recording_server.captured("/hook")) == 1
