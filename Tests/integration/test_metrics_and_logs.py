"""Operations (issue 7): Prometheus metrics on loopback, and logs that never
carry secrets — neither the private key nor any signature sent."""
import base64
import os
import re
import time

import requests

import conftest as c


def test_metrics_are_served_on_loopback_and_count_what_happened(tmp_path, procs):
    key = c.keygen(tmp_path / "gateway.key")
    receiver = c.start_receiver(procs, tmp_path, [key.public_b64])
    setup = c.make_gateway(tmp_path, receiver.base_url, key=key)
    port = c.free_port()
    setup.config.write_text(setup.config.read_text() + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    c.start_gateway(procs, setup)
    button = c.Button(setup.fifo)
    for _ in range(3):
        button.click()
    c.wait_until(lambda: len(c.receiver_alerts(receiver.database)) == 6, 10, "3 presses and 3 restores delivered")
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'panic_gateway_presses_total{kind="panic",input="btn"} 3' in text
    assert 'panic_gateway_alerts_accepted_total{kind="restore"} 3' in text
    assert re.search(r'panic_gateway_delivery_latency_seconds_count\{destination="central"\} 6\b', text)
    assert re.search(r'panic_gateway_queue_depth\{destination="central"\} 0', text)
    assert re.search(r"panic_gateway_loop_iterations [1-9]", text)
    assert requests.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404
    button.close()


def test_metrics_listen_must_be_loopback(tmp_path):
    cfg = tmp_path / "g.toml"
    cfg.write_text(c.gateway_toml(state_dir=tmp_path / "s", key_file=tmp_path / "k", fifo=tmp_path / "f",
                                  uplink_url="http://127.0.0.1:9") + '\n[metrics]\nlisten = "0.0.0.0:9464"\n')
    cp = c.run([c.binary("panic-gateway"), "check-config", str(cfg)])
    assert cp.returncode == 2
    assert "metrics.listen: metrics are served on a loopback address only" in cp.stderr


def test_logs_never_carry_the_private_key_or_a_signature(tmp_path, procs, recording_server):
    key = c.keygen(tmp_path / "gateway.key")
    setup = c.make_gateway(tmp_path, f"http://127.0.0.1:{recording_server.port}", key=key)
    gw = procs.start("gateway", [c.binary("panic-gateway"), "run", "--config", str(setup.config), "--log-level", "trace"])
    c.wait_until(lambda: "<5>running" in gw.stderr() and setup.fifo.exists(), 30, "gateway running")
    button = c.Button(setup.fifo)
    button.click()
    c.wait_until(lambda: len(recording_server.captured("/v1/alerts")) >= 2, 10, "alerts posted")
    time.sleep(1.2)  # a heartbeat too
    gw.terminate()
    logs = gw.stderr()
    assert "edge" in logs and "delivered" in logs, "trace logging was on"
    pem = key.path.read_text()
    secret_b64 = "".join(pem.strip().splitlines()[1:-1])
    seed = base64.b64decode(secret_b64)[-32:]
    for needle in (secret_b64, base64.b64encode(seed).decode(), seed.hex()):
        assert needle not in logs
    signatures = [r.header("Signature") for r in recording_server.captured()]
    assert signatures
    for sig in signatures:
        value = sig.split("=:", 1)[1].rstrip(":")
        assert value not in logs and value[:24] not in logs
    button.close()


def test_the_daemons_threads_carry_their_names_for_the_kernel(tmp_path, procs):
    """`top -H`, `ps -L`, a core dump and the watchdog scenario (which stops the input
    loop's thread alone) find threads by /proc/PID/task/TID/comm. Foundation's
    Thread.name did not reach the kernel: every thread was "panic-gateway" or a
    libdispatch name (found by the appliance-watchdog HIL scenario)."""
    setup = c.make_gateway(tmp_path, "http://127.0.0.1:9")
    gw = c.start_gateway(procs, setup)
    names = {}
    for t in os.listdir(f"/proc/{gw.popen.pid}/task"):
        with open(f"/proc/{gw.popen.pid}/task/{t}/comm") as f:
            name = f.read().strip()
        names[name] = names.get(name, 0) + 1
    assert "input-loop" in names and "outbox-writer" in names and "control-accept" in names, names
    assert gw.terminate() == 0, gw.describe()
