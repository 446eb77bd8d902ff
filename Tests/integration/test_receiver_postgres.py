"""Several panic-receiver replicas on one real PostgreSQL database (a
private cluster made with initdb by the session fixture `pg_cluster`):
migrations, exactly-once intake under concurrency, the gateway registry,
supervision recorded once per episode, readiness and draining, and a run
with a replica killed and the database restarted."""

from __future__ import annotations

import json
import random
import signal
import socket
import threading
import time
from collections import Counter

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from conftest import (GATEWAY_ID, alert_body, binary, keygen, run, start_receiver, wait_until, uuid7)
from pg import postgres_toml
from test_hostile_inputs import Signer


def migrate(cfg, *extra) -> str:
    cp = run([binary("panic-receiver"), "migrate", "--config", str(cfg), *extra], timeout=60)
    assert cp.returncode == 0, f"migrate failed ({cp.returncode}): {cp.stderr}"
    return cp.stdout


def fresh_db(pg_cluster, tmp_path, name="schema") -> tuple[str, str]:
    """A new database and a config naming it, migrated."""
    db = pg_cluster.create_database()
    cfg = tmp_path / f"{name}.toml"
    key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    cfg.write_text(f'listen = "127.0.0.1:0"\n[[gateways]]\nid = "gw-x"\npublic_keys = ["{key}"]\n' + postgres_toml(pg_cluster, db))
    return db, cfg


def replicas(procs, tmp_path, pg_cluster, db, keys, n=3, **kw):
    return [start_receiver(procs, tmp_path, keys, postgres=postgres_toml(pg_cluster, db), name=f"replica{i}", **kw)
            for i in range(n)]


def signer_for(tmp_path, name="gw.key"):
    key = keygen(tmp_path / name)
    private = serialization.load_pem_private_key(key.path.read_bytes(), password=None)
    return key, Signer(private, key.key_id)


def migrated(pg_cluster, tmp_path):
    db, cfg = fresh_db(pg_cluster, tmp_path)
    migrate(cfg)
    return db


# ---------------------------------------------------------------------------
# Migrations
# ---------------------------------------------------------------------------

def test_a_replica_refuses_an_unmigrated_database_and_migrate_brings_it_current(pg_cluster, tmp_path, procs):
    db, cfg = fresh_db(pg_cluster, tmp_path)
    cp = run([binary("panic-receiver"), "serve", "--config", str(cfg)], timeout=30)
    assert cp.returncode == 1, cp
    assert "schema version 0" in cp.stderr and "panic-receiver migrate" in cp.stderr, cp.stderr
    assert "from version 0 to 3" in migrate(cfg)
    assert "schema is current (version 3)" in migrate(cfg), "a second migrate must change nothing"
    key, _ = signer_for(tmp_path)
    rx = start_receiver(procs, tmp_path, [key.public_b64], postgres=postgres_toml(pg_cluster, db))
    r = requests.get(f"{rx.base_url}/readyz", timeout=5)
    assert r.status_code == 200 and r.json() == {"engine": "postgresql", "ready": "true"}, r.text
    assert requests.get(f"{rx.base_url}/healthz", timeout=5).status_code == 200


def test_a_database_at_the_previous_version_keeps_its_alerts_through_migrate(pg_cluster, tmp_path, procs):
    db, cfg = fresh_db(pg_cluster, tmp_path)
    assert "from version 0 to 1" in migrate(cfg, "--to", "1")
    pg_cluster.psql("INSERT INTO alerts VALUES('gw-old', 'a-1', 7, 'panic', false, 1, 2, 'k', '\\x7b7d'::bytea)", db)
    cp = run([binary("panic-receiver"), "serve", "--config", str(cfg)], timeout=30)
    assert cp.returncode == 1 and "schema version 1" in cp.stderr, cp.stderr
    assert "from version 1 to 3" in migrate(cfg)
    assert pg_cluster.psql("SELECT gateway_id || '/' || id || '/' || sequence FROM alerts", db) == "gw-old/a-1/7"
    assert pg_cluster.psql("SELECT version FROM registry_version", db) == "0"


def test_a_database_from_a_newer_receiver_is_refused_by_serve_and_migrate(pg_cluster, tmp_path):
    db, cfg = fresh_db(pg_cluster, tmp_path)
    migrate(cfg)
    pg_cluster.psql("UPDATE panic_schema SET version = 99", db)
    for cmd in (["serve"], ["migrate"]):
        cp = run([binary("panic-receiver"), *cmd, "--config", str(cfg)], timeout=30)
        assert cp.returncode == 1, (cmd, cp)
        assert "schema version 99" in cp.stderr and "newer" in cp.stderr, (cmd, cp.stderr)


# ---------------------------------------------------------------------------
# Exactly once
# ---------------------------------------------------------------------------

def test_the_same_alert_fired_at_two_replicas_at_once_is_created_exactly_once(pg_cluster, tmp_path, procs):
    db = migrated(pg_cluster, tmp_path)
    key, signer = signer_for(tmp_path)
    a, b = replicas(procs, tmp_path, pg_cluster, db, [key.public_b64], n=2)
    rounds = 300
    statuses: list[tuple[int, int]] = []
    for seq in range(1, rounds + 1):
        aid, body = alert_body(sequence=seq)
        barrier = threading.Barrier(2)
        got = {}

        def fire(rx, slot):
            barrier.wait()
            got[slot] = signer.post(f"{rx.base_url}/v1/alerts", body, aid).status_code

        threads = [threading.Thread(target=fire, args=(rx, i)) for i, rx in enumerate((a, b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        statuses.append((got.get(0), got.get(1)))
    created = [s.count(201) for s in statuses]
    assert all(sorted(s) == [200, 201] for s in statuses), Counter(statuses)
    assert sum(created) == rounds
    assert pg_cluster.psql(f"SELECT COUNT(*) FROM alerts WHERE gateway_id = '{GATEWAY_ID}'", db) == str(rounds)
    assert pg_cluster.psql("SELECT COUNT(*) FROM events WHERE type = 'gap'", db) == "0", \
        pg_cluster.psql("SELECT text FROM events WHERE type = 'gap'", db)


def test_consecutive_alerts_on_different_replicas_at_once_raise_no_false_gap_and_a_real_gap_is_flagged(pg_cluster, tmp_path, procs):
    db = migrated(pg_cluster, tmp_path)
    key, signer = signer_for(tmp_path)
    rxs = replicas(procs, tmp_path, pg_cluster, db, [key.public_b64], n=3)
    # Pairs n, n+1 sent at the same moment to two replicas: whichever
    # commits second must see the first (no gap reported for either order).
    results = []
    for n in range(1, 200, 2):
        bodies = [alert_body(sequence=n), alert_body(sequence=n + 1)]
        barrier = threading.Barrier(2)

        def fire(i):
            aid, body = bodies[i]
            barrier.wait()
            results.append(signer.post(f"{rxs[i].base_url}/v1/alerts", body, aid).status_code)

        ts = [threading.Thread(target=fire, args=(i,)) for i in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=30)
    assert results.count(201) == 200, Counter(results)
    gaps = pg_cluster.psql("SELECT text FROM events WHERE type = 'gap' ORDER BY number", db)
    # Out-of-order commits of a pair (n+1 before n) may report n as
    # missing until it lands; the status must show no gap at all.
    status = json.loads(run([binary("panic-receiver"), "status", "--config", str(rxs[0].config), "--json"]).stdout)
    assert status[0]["gaps"] == [] and status[0]["alerts"] == 200, status
    false_gaps = [g for g in gaps.splitlines() if g]
    # A real gap: 201 then 205 is flagged, once.
    for seq in (201, 205):
        aid, body = alert_body(sequence=seq)
        assert signer.post(f"{random.choice(rxs).base_url}/v1/alerts", body, aid).status_code == 201
    gaps_after = [g for g in pg_cluster.psql("SELECT text FROM events WHERE type = 'gap' ORDER BY number", db).splitlines() if g]
    assert gaps_after[len(false_gaps):] == ["sequence jumped from 201 to 205: 202...204 not (yet) received"], gaps_after
    status = json.loads(run([binary("panic-receiver"), "status", "--config", str(rxs[0].config), "--json"]).stdout)
    assert status[0]["gaps"] == [[202, 204]], status
    assert len(false_gaps) <= 100, false_gaps  # bounded by the pairs; see the note above


def test_sequence_reuse_is_flagged_once_whichever_replica_takes_it(pg_cluster, tmp_path, procs):
    db = migrated(pg_cluster, tmp_path)
    key, signer = signer_for(tmp_path)
    a, b = replicas(procs, tmp_path, pg_cluster, db, [key.public_b64], n=2)
    aid1, body1 = alert_body(sequence=9)
    aid2, body2 = alert_body(sequence=9)
    assert signer.post(f"{a.base_url}/v1/alerts", body1, aid1).status_code == 201
    r = signer.post(f"{b.base_url}/v1/alerts", body2, aid2)
    assert r.status_code == 201 and "was used before" in r.text, r.text
    assert pg_cluster.psql("SELECT COUNT(*) FROM events WHERE type = 'seq-reuse'", db) == "1"


# ---------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------

def gateways_cmd(cfg, *args) -> 'subprocess.CompletedProcess':
    return run([binary("panic-receiver"), "gateways", *args, "--config", str(cfg)], timeout=30)


def test_a_gateway_registered_in_the_database_is_trusted_by_every_replica_within_a_second(pg_cluster, tmp_path, procs):
    db = migrated(pg_cluster, tmp_path)
    key, signer = signer_for(tmp_path)
    rxs = replicas(procs, tmp_path, pg_cluster, db, [], n=3)
    cfg = rxs[0].config
    aid, body = alert_body(sequence=1)
    assert signer.post(f"{rxs[1].base_url}/v1/alerts", body, aid).status_code == 401, "unregistered key must be refused"

    cp = gateways_cmd(cfg, "add", GATEWAY_ID, "--site", "Embassy <North>", "--public-key", key.public_b64)
    assert cp.returncode == 0, cp.stderr
    added = time.monotonic()
    for rx in rxs:
        wait_until(lambda rx=rx: signer.post(f"{rx.base_url}/v1/alerts", body, aid).status_code in (200, 201),
                   2.0, f"replica {rx.port} to trust the new key")
    assert time.monotonic() - added < 1.5, "every replica must see a registry change within about a second"

    listing = json.loads(gateways_cmd(cfg, "list", "--json").stdout)
    assert listing == [{"enabled": True, "id": GATEWAY_ID, "keys": [key.key_id], "site": "Embassy <North>"}]
    again = gateways_cmd(cfg, "add", GATEWAY_ID, "--site", "x", "--public-key", key.public_b64)
    assert again.returncode == 1 and "already registered" in again.stderr, again.stderr
    last = gateways_cmd(cfg, "remove-key", GATEWAY_ID, key.key_id)
    assert last.returncode == 1 and "last key" in last.stderr, last.stderr
    bad = gateways_cmd(cfg, "add", "gw-2", "--site", "y", "--public-key", "not-base64")
    assert bad.returncode == 1 and "32-byte Ed25519" in bad.stderr, bad.stderr

    assert gateways_cmd(cfg, "disable", GATEWAY_ID).returncode == 0
    aid2, body2 = alert_body(sequence=2)
    for rx in rxs:
        wait_until(lambda rx=rx: signer.post(f"{rx.base_url}/v1/alerts", body2, aid2).status_code == 401,
                   2.0, f"replica {rx.port} to refuse the disabled gateway")
    assert gateways_cmd(cfg, "enable", GATEWAY_ID).returncode == 0
    wait_until(lambda: signer.post(f"{rxs[2].base_url}/v1/alerts", body2, aid2).status_code == 201, 2.0, "enabled again")


# ---------------------------------------------------------------------------
# Supervision
# ---------------------------------------------------------------------------

def heartbeat_body(interval_s: int = 1, last_sequence: int = 0) -> tuple[str, bytes]:
    hid = uuid7()
    doc = {"version": 1, "id": hid, "kind": "heartbeat", "gateway_id": GATEWAY_ID, "site": "python signer",
           "sent_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()), "interval_s": interval_s,
           "last_sequence": last_sequence, "queue": [], "inputs": [], "clock_synchronized": True, "evicted_telemetry": 0}
    return hid, json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def test_a_silent_gateway_and_its_return_are_recorded_once_across_three_replicas_even_with_one_killed(pg_cluster, tmp_path, procs):
    db = migrated(pg_cluster, tmp_path)
    key, signer = signer_for(tmp_path)
    rxs = replicas(procs, tmp_path, pg_cluster, db, [key.public_b64], n=3, silent_after_intervals=2)
    hid, body = heartbeat_body()
    r = signer.post(f"{rxs[0].base_url}/v1/heartbeats", body, hid)
    assert r.status_code == 200, r.text
    # The replica that took the heartbeat dies; the others must notice the silence.
    rxs[0].proc.popen.send_signal(signal.SIGKILL)
    wait_until(lambda: pg_cluster.psql("SELECT COUNT(*) FROM events WHERE type = 'silent'", db) == "1", 15,
               "the silence to be recorded")
    time.sleep(3)  # several more supervision turns on both survivors
    assert pg_cluster.psql("SELECT COUNT(*) FROM events WHERE type = 'silent'", db) == "1"
    hid, body = heartbeat_body()
    assert signer.post(f"{rxs[2].base_url}/v1/heartbeats", body, hid).status_code == 200
    assert pg_cluster.psql("SELECT COUNT(*) FROM events WHERE type = 'back'", db) == "1"
    # A second episode is a second record.
    wait_until(lambda: pg_cluster.psql("SELECT COUNT(*) FROM events WHERE type = 'silent'", db) == "2", 15,
               "the second silence")
    time.sleep(2)
    assert pg_cluster.psql("SELECT COUNT(*) FROM events WHERE type = 'silent'", db) == "2"


# ---------------------------------------------------------------------------
# Behind a load balancer
# ---------------------------------------------------------------------------

def test_sigterm_drains_new_requests_get_503_and_the_request_in_flight_completes(pg_cluster, tmp_path, procs):
    db = migrated(pg_cluster, tmp_path)
    key, signer = signer_for(tmp_path)
    rx = start_receiver(procs, tmp_path, [key.public_b64], postgres=postgres_toml(pg_cluster, db),
                        extra="", name="drain")
    # A request in flight: headers and half of the body sent.
    aid, body = alert_body(sequence=1)
    req = requests.Request("POST", f"{rx.base_url}/v1/alerts", headers={"Content-Type": "application/json"}, data=body).prepare()
    signer.signer.sign(req, key_id=signer.key_id, created=__import__("datetime").datetime.now(__import__("datetime").timezone.utc),
                       nonce=aid, include_alg=True, covered_component_ids=("@method", "@target-uri", "content-type", "content-digest"), body=body)
    raw = f"POST /v1/alerts HTTP/1.1\r\nHost: 127.0.0.1:{rx.port}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in req.headers.items()) + "\r\n"
    s = socket.create_connection(("127.0.0.1", rx.port), timeout=10)
    s.sendall(raw.encode() + body[:10])
    time.sleep(0.3)
    rx.proc.popen.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    late = requests.get(f"{rx.base_url}/readyz", timeout=5)
    assert late.status_code == 503 and late.headers.get("Retry-After"), late.text
    aid2, body2 = alert_body(sequence=2)
    r = signer.post(f"{rx.base_url}/v1/alerts", body2, aid2)
    assert r.status_code == 503 and r.headers.get("Retry-After") == "1", (r.status_code, r.text)
    s.sendall(body[10:])
    answer = s.recv(4096).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 201"), answer
    s.close()
    assert rx.proc.popen.wait(timeout=30) == 0
    assert pg_cluster.psql("SELECT COUNT(*) FROM alerts", db) == "1"


def test_with_the_database_down_intake_answers_503_with_retry_after_never_2xx(pg_cluster, tmp_path, procs):
    db = migrated(pg_cluster, tmp_path)
    key, signer = signer_for(tmp_path)
    rx = start_receiver(procs, tmp_path, [key.public_b64], postgres=postgres_toml(pg_cluster, db))
    pg_cluster.stop("immediate")
    try:
        aid, body = alert_body(sequence=1)
        t0 = time.monotonic()
        r = signer.post(f"{rx.base_url}/v1/alerts", body, aid)
        assert r.status_code == 503 and r.headers.get("Retry-After"), (r.status_code, r.text)
        assert time.monotonic() - t0 < 8, "a database that is down must not hang the request"
        assert requests.get(f"{rx.base_url}/readyz", timeout=10).status_code == 503
        assert requests.get(f"{rx.base_url}/healthz", timeout=5).status_code == 200
    finally:
        pg_cluster.start()
    wait_until(lambda: signer.post(f"{rx.base_url}/v1/alerts", body, aid).status_code == 201, 30,
               "intake to work again after the database returned")


# ---------------------------------------------------------------------------
# Three replicas, a kill -9 and a database restart under load
# ---------------------------------------------------------------------------

def test_three_replicas_lose_nothing_through_a_kill_and_a_database_restart(pg_cluster, tmp_path, procs):
    """Two real panic-gateway processes (each with the three replicas as
    url + fallback_urls, one of them starting on the replica that is killed)
    and four load generators that resend until a 2xx, to any live replica,
    with duplicates on purpose; one generator skips a sequence number. Then
    kill -9 one replica and restart PostgreSQL mid-run."""
    from conftest import Button, gateway_toml
    db = migrated(pg_cluster, tmp_path)
    gateways = 4
    signers = []
    keys = []
    for g in range(gateways):
        k, s = signer_for(tmp_path, f"gw{g}.key")
        keys.append(k)
        signers.append(s)
    rxs = replicas(procs, tmp_path, pg_cluster, db, [], n=3)
    cfg = rxs[0].config
    for g, k in enumerate(keys):
        assert gateways_cmd(cfg, "add", f"gw-{g}", "--site", f"site-{g}", "--public-key", k.public_b64).returncode == 0

    # The real gateways: real-0 starts on replica 0, real-1 on replica 1 (killed below).
    real = []
    for i in range(2):
        key = keygen(tmp_path / f"real{i}.key")
        assert gateways_cmd(cfg, "add", f"real-{i}", "--site", "real", "--public-key", key.public_b64).returncode == 0
        d = tmp_path / f"real{i}"
        d.mkdir()
        order = [rxs[(i + j) % 3].base_url for j in range(3)]
        text = gateway_toml(state_dir=d / "state", key_file=key.path, fifo=d / "btn.fifo", uplink_url=order[0])
        text = text.replace(f'gateway_id = "{GATEWAY_ID}"', f'gateway_id = "real-{i}"')
        text += f'fallback_urls = ["{order[1]}", "{order[2]}"]\nconnect_timeout_ms = 300\n'
        (d / "gateway.toml").write_text(text)
        p = procs.start(f"real-{i}", [binary("panic-gateway"), "run", "--config", str(d / "gateway.toml")])
        real.append((f"real-{i}", p, d / "btn.fifo"))
    for gid, p, _ in real:
        wait_until(lambda gid=gid: pg_cluster.psql(f"SELECT COUNT(*) FROM gateways WHERE id = '{gid}' AND last_heartbeat_ns IS NOT NULL", db) == "1",
                   30, f"{gid}'s first heartbeat at a replica", diagnostics=p.describe)
    buttons = [Button(fifo) for _, _, fifo in real]
    clicks = 20

    per_gateway = 120
    skipped = ("gw-3", 60)  # a real gap: gw-3 never sends sequence 60
    acked: dict[str, list[str]] = {f"gw-{g}": [] for g in range(gateways)}
    alive = [True, True, True]
    stop = threading.Event()

    def gateway(g: int):
        rng = random.Random(g)
        gid = f"gw-{g}"
        sequences = [s + (1 if gid == skipped[0] and s >= skipped[1] else 0) for s in range(1, per_gateway + 1)]
        for seq in sequences:
            aid, body = alert_body(sequence=seq, gateway_id=gid)
            # In order, once in effect: resend until a 2xx, to any live replica,
            # and now and then send a duplicate on purpose.
            while not stop.is_set():
                choices = [i for i in range(3) if alive[i]]
                rx = rxs[rng.choice(choices)]
                try:
                    r = signers[g].post(f"{rx.base_url}/v1/alerts", body, aid)
                except requests.RequestException:
                    time.sleep(0.05)
                    continue
                if r.status_code in (200, 201):
                    acked[gid].append(aid)
                    if rng.random() < 0.1:
                        dup = signers[g].post(f"{rxs[rng.choice([i for i in range(3) if alive[i]])].base_url}/v1/alerts", body, aid)
                        assert dup.status_code in (200, 503), dup.text
                    break
                assert r.status_code in (503, 401), (r.status_code, r.text)  # 401: registry not yet seen
                time.sleep(0.05)

    def press(b: int):
        for _ in range(clicks):
            buttons[b].click(hold_s=0.08, gap_s=0.08)

    threads = [threading.Thread(target=gateway, args=(g,)) for g in range(gateways)]
    threads += [threading.Thread(target=press, args=(b,)) for b in range(len(buttons))]
    for t in threads:
        t.start()
    time.sleep(1.5)
    alive[1] = False
    rxs[1].proc.popen.send_signal(signal.SIGKILL)
    time.sleep(1.5)
    pg_cluster.restart()
    for t in threads:
        t.join(timeout=240)
    stop.set()
    assert not any(t.is_alive() for t in threads), "load generators did not finish"
    for g in range(gateways):
        gid = f"gw-{g}"
        assert len(acked[gid]) == per_gateway, (gid, len(acked[gid]))
        rows = pg_cluster.rows(db, f"SELECT id, sequence FROM alerts WHERE gateway_id = '{gid}' ORDER BY sequence")
        assert [r[0] for r in rows] == acked[gid], f"{gid}: every acknowledged alert stored exactly once, in order"
    # The real gateways: every press and release arrives, once, in order, through the failover.
    for gid, p, _ in real:
        def stored(gid=gid):
            return pg_cluster.rows(db, f"SELECT id, sequence FROM alerts WHERE gateway_id = '{gid}' ORDER BY sequence")
        wait_until(lambda: len(stored()) >= 2 * clicks, 60, f"{gid}'s {2 * clicks} alerts at the replicas",
                   diagnostics=lambda p=p: p.describe())
        rows = stored()
        sequences = [int(r[1]) for r in rows]
        assert len(rows) == 2 * clicks and len({r[0] for r in rows}) == len(rows), (gid, rows)
        assert sequences == list(range(sequences[0], sequences[0] + len(sequences))), (gid, sequences)
        assert p.alive(), p.describe()
    flagged = pg_cluster.rows(db, "SELECT gateway_id, type, text FROM events WHERE type IN ('gap', 'seq-reuse')")
    assert [(r[0], r[1]) for r in flagged] == [("gw-3", "gap")], f"exactly the one real gap, no false one: {flagged}"
    assert "60" in flagged[0][2], flagged


# ---------------------------------------------------------------------------
# A real gateway failing over between replica URLs
# ---------------------------------------------------------------------------

def test_a_gateway_moves_to_the_next_replica_url_for_the_same_alert_in_order_and_once(pg_cluster, tmp_path, procs, control_dir):
    from conftest import Button, control_status, free_port, make_control_gateway, start_gateway, wait_for_control
    db = migrated(pg_cluster, tmp_path)
    key = keygen(tmp_path / "gw.key")
    a, b = replicas(procs, tmp_path, pg_cluster, db, [key.public_b64], n=2)
    dead = f"http://127.0.0.1:{free_port()}"  # the first URL: nobody listens
    sock = control_dir / "gw.sock"
    setup = make_control_gateway(tmp_path, dead, key, sock,
                                 uplink_toml=f'fallback_urls = ["{a.base_url}", "{b.base_url}"]\nconnect_timeout_ms = 300')
    gw = start_gateway(procs, setup)
    wait_for_control(sock, gw)
    button = Button(setup.fifo)

    def stored() -> list[list[str]]:
        return pg_cluster.rows(db, f"SELECT sequence, id FROM alerts WHERE gateway_id = '{GATEWAY_ID}' ORDER BY sequence")

    def uplink_url() -> str:
        return control_status(sock)["uplinks"][0]["url"]

    button.press(); button.release()
    wait_until(lambda: len(stored()) == 2, 15, "the first press and its restore to reach a replica")
    wait_until(lambda: uplink_url() == f"{a.base_url} (2 of 3)", 5, "status to name the replica that answered")

    a.proc.popen.send_signal(signal.SIGKILL)
    a.proc.popen.wait(timeout=10)
    button.press(); button.release()
    wait_until(lambda: len(stored()) == 4, 20, "the second press to reach the other replica")
    assert uplink_url() == f"{b.base_url} (3 of 3)"
    rows = stored()
    assert [int(r[0]) for r in rows] == [1, 2, 3, 4], rows
    assert len({r[1] for r in rows}) == 4
    assert pg_cluster.psql("SELECT COUNT(*) FROM events WHERE type IN ('gap', 'seq-reuse')", db) == "0"
