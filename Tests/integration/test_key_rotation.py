"""Key rotation (issue 6): the next key is announced in heartbeats under the
current key's signature, the receiver starts trusting it, and after the
switch alerts signed with the new key are accepted — with the receiver's
configuration naming only the old key throughout."""
import conftest as c


def test_rotation_announces_then_switches_and_the_receiver_keeps_accepting(tmp_path, procs, control_dir, receiver_engine):
    key = c.keygen(tmp_path / "gateway.key")
    receiver = c.start_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine)
    sock = control_dir / "control.sock"
    setup = c.make_control_gateway(tmp_path, receiver.base_url, key, sock)
    gw = c.start_gateway(procs, setup)
    c.wait_for_control(sock, gw)
    button = c.Button(setup.fifo)

    # Before: an alert under the old key.
    button.click()
    c.wait_until(lambda: len(c.query(receiver.database, "SELECT id FROM alerts")) == 2, 10, "old-key alerts")
    old_ids = {r[0] for r in c.query(receiver.database, "SELECT DISTINCT key_id FROM alerts")}
    assert old_ids == {key.key_id}

    step1 = c.panicctl_json("keys", "rotate", "--config", str(setup.config))
    new_id = step1["key_id"]
    assert new_id != key.key_id
    assert (setup.key_file.parent / (setup.key_file.name + ".next")).stat().st_mode & 0o777 == 0o600
    c.wait_until(lambda: c.query(receiver.database, "SELECT key_id FROM announced_keys WHERE gateway_id = ?", (c.GATEWAY_ID,)) == [(new_id,)],
                 10, "the receiver to record the announced key from a heartbeat")
    assert "announced next signing key" in c.receiver_tail(receiver.database)

    step2 = c.panicctl_json("keys", "rotate", "--commit", "--config", str(setup.config))
    assert step2["key_id"] == new_id and step2["previous_key_id"] == key.key_id
    assert (setup.key_file.parent / (setup.key_file.name + ".old")).exists()

    button.click()
    c.wait_until(lambda: len(c.query(receiver.database, "SELECT id FROM alerts")) == 4, 10, "new-key alerts accepted")
    rows = c.query(receiver.database, "SELECT sequence, key_id FROM alerts ORDER BY sequence")
    assert [k for _, k in rows] == [key.key_id, key.key_id, new_id, new_id]
    assert c.panicctl_json("keys", "show", "--config", str(setup.config))["key_id"] == new_id
    button.close()


def test_commit_without_a_next_key_is_refused(tmp_path, procs, control_dir, receiver_engine):
    key = c.keygen(tmp_path / "gateway.key")
    receiver = c.start_receiver(procs, tmp_path, [key.public_b64], engine=receiver_engine)
    sock = control_dir / "control.sock"
    setup = c.make_control_gateway(tmp_path, receiver.base_url, key, sock)
    gw = c.start_gateway(procs, setup)
    c.wait_for_control(sock, gw)
    cp = c.panicctl("keys", "rotate", "--commit", "--config", str(setup.config))
    assert cp.returncode == 1
    assert "no next key" in cp.stderr
    assert setup.key_file.exists()
