"""SIGHUP reloads the configuration of a running daemon (issue 7).

A valid change applies live: a new input works, an unchanged input keeps its
descriptor (same FIFO fd and inode in /proc) and its debounce state (a button
held across the reload raises no second press). A broken file is refused,
reported as a trouble alert, and the old configuration keeps running.
"""
import os
import signal
import time

import conftest as c


def fifo_fds(pid, fifo):
    """(fd number, inode) of every descriptor of `pid` open on `fifo`."""
    ino = os.stat(fifo).st_ino
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.stat(f"/proc/{pid}/fd/{fd}").st_ino == ino:
                out.append((int(fd), ino))
        except FileNotFoundError:
            pass
    return sorted(out)


def config_text(tmp_path, port, extra_input=False, broken=False):
    text = f'''
gateway_id = "{c.GATEWAY_ID}"
site = "reload test"
state_dir = "{tmp_path}/state"
key_file = "{tmp_path}/gateway.key"
control_socket = "{tmp_path}/control.sock"

[[inputs]]
name = "btn"
kind = "panic"
zone = 501
source = {{ type = "simulated", fifo = "{tmp_path}/btn.fifo" }}
'''
    if extra_input:
        text += f'''
[[inputs]]
name = "desk"
kind = "duress"
zone = 502
source = {{ type = "simulated", fifo = "{tmp_path}/desk.fifo" }}
'''
    if broken:
        text += "\n[[inputs]]\nname = \"bad\"\nkind = \"fire\"\nzone = 1\nsource = { type = \"simulated\" }\n"
    text += f'''
[[uplinks]]
name = "central"
url = "http://127.0.0.1:{port}"
heartbeat_interval_s = 1
backoff_initial_ms = 50
backoff_max_ms = 500
'''
    return text


def test_sighup_applies_inputs_live_and_refuses_a_broken_file(tmp_path, procs):
    key = c.keygen(tmp_path / "gateway.key")
    receiver = c.start_receiver(procs, tmp_path, [key.public_b64])
    cfg = tmp_path / "gateway.toml"
    cfg.write_text(config_text(tmp_path, receiver.port))
    gw = procs.start("gateway", [c.binary("panic-gateway"), "run", "--config", str(cfg)])
    btn = tmp_path / "btn.fifo"
    c.wait_until(lambda: gw.alive() and "<5>running" in gw.stderr() and btn.exists(), 30, "gateway running")
    rows = lambda: c.receiver_alerts(receiver.database)

    before = fifo_fds(gw.popen.pid, str(btn))
    assert before, "the gateway holds the FIFO open"
    button = c.Button(btn)
    button.press()  # held down across the reload
    c.wait_until(lambda: len(rows()) == 1, 10, "first press delivered")

    cfg.write_text(config_text(tmp_path, receiver.port, extra_input=True))
    os.kill(gw.popen.pid, signal.SIGHUP)
    c.wait_until(lambda: (tmp_path / "desk.fifo").exists(), 10, "the new input's FIFO, created by the reload")
    assert fifo_fds(gw.popen.pid, str(btn)) == before, "the unchanged input kept its descriptor"
    desk = c.Button(tmp_path / "desk.fifo")
    desk.press()
    c.wait_until(lambda: any(r.get("input") == "desk" and r["kind"] == "duress" for r in rows()), 10, "the new input's press delivered")
    button.press()  # still held: no new press
    time.sleep(0.1)
    button.release()
    c.wait_until(lambda: any(r["kind"] == "restore" and r.get("input") == "btn" for r in rows()), 10, "release delivered")
    presses = [r for r in rows() if r.get("input") == "btn" and r["kind"] == "panic"]
    assert len(presses) == 1, f"debounce state survived the reload: {presses}"
    assert "configuration reloaded: inputs applied" in gw.stderr()

    cfg.write_text(config_text(tmp_path, receiver.port, extra_input=True, broken=True))
    os.kill(gw.popen.pid, signal.SIGHUP)
    c.wait_until(lambda: any(r["kind"] == "trouble" and "reload refused" in (r.get("detail") or "") for r in rows()),
                 10, "a trouble alert reports the refused reload")
    assert gw.alive(), "the daemon keeps running"
    assert "inputs[2].kind" in gw.stderr()
    # One journal entry at error priority: the line naming the mistake carries the
    # <3> prefix itself (journald splits at newlines; a continuation line was logged
    # at the default priority and `journalctl -p err` did not show what was wrong).
    refused = [line for line in gw.stderr().splitlines() if "reload refused; the running configuration stays" in line]
    assert len(refused) == 1 and refused[0].startswith("<3>") and "inputs[2].kind" in refused[0], refused
    time.sleep(0.1)
    button.press()
    c.wait_until(lambda: len([r for r in rows() if r.get("input") == "btn" and r["kind"] == "panic"]) == 2,
                 10, "the old configuration still works after the refused reload")
    button.close()
    desk.close()


def test_sighup_names_dc09_and_metrics_changes_and_a_failed_wiring_changes_nothing(tmp_path, procs):
    """Issue 18: a changed DC-09 section or metrics address was logged as
    'unchanged'; a new input whose source could not be opened left the input
    table changed and the devices not."""
    key = c.keygen(tmp_path / "gateway.key")
    receiver = c.start_receiver(procs, tmp_path, [key.public_b64])
    cfg = tmp_path / "gateway.toml"
    base = config_text(tmp_path, receiver.port)
    cfg.write_text(base)
    gw = procs.start("gateway", [c.binary("panic-gateway"), "run", "--config", str(cfg)])
    btn = tmp_path / "btn.fifo"
    c.wait_until(lambda: gw.alive() and "<5>running" in gw.stderr() and btn.exists(), 30, "gateway running")
    rows = lambda: c.receiver_alerts(receiver.database)

    def reload(text: str, expect: str) -> None:
        mark = len(gw.stderr())
        cfg.write_text(text)
        os.kill(gw.popen.pid, signal.SIGHUP)
        c.wait_until(lambda: expect in gw.stderr()[mark:], 10, f"log line {expect!r} after the reload")

    dc09 = (f'\n[[uplinks]]\ntype = "dc09"\nname = "arc"\nhost = "127.0.0.1"\nport = {c.free_port()}\n'
            f'account = "1234"\n')
    reload(base + dc09, "need a restart were not applied")
    assert "uplinks (dc09)" in gw.stderr(), gw.stderr()[-2000:]
    reload(base + '\n[metrics]\nlisten = "127.0.0.1:%d"\n' % c.free_port(), "need a restart were not applied")
    assert "metrics" in gw.stderr().split("need a restart were not applied")[-1].split("\n")[0], gw.stderr()[-2000:]

    # A new input whose FIFO cannot be made (its directory is under /proc):
    # refused whole; the running input keeps working and the table is as before.
    broken_input = ('\n[[inputs]]\nname = "ghost"\nkind = "panic"\nzone = 9\n'
                    'source = { type = "simulated", fifo = "/proc/self/nope/ghost.fifo" }\n')
    text = base.replace("\n[[uplinks]]", broken_input + "\n[[uplinks]]", 1)
    reload(text, "reload refused: the new inputs could not be set up")
    assert gw.alive()
    button = c.Button(btn)
    button.press()
    c.wait_until(lambda: any(r.get("input") == "btn" and r["kind"] == "panic" for r in rows()), 10, "the running input still works")
    button.release()
    names = [i["name"] for i in c.control_status(tmp_path / "control.sock")["inputs"]]
    assert names == ["btn"], f"the refused reload changed the input table: {names}"
    button.close()
