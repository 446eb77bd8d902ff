"""The operator console in a real browser: Debian's chromium, headless,
driven by selenium through Debian's chromium-driver (no browser download).

A real `panic-gateway` with a simulated button sends real presses to a real
`panic-receiver` with the console on; two operators' browsers watch the
queue. Figures printed: first edge → row on the page over 100 presses, and
the page with 1,000 open alarms (load, and a new row's latency)."""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import subprocess
import time

import pytest
import requests

import conftest as c

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
LOCATION = "Room 2.14, second floor"

CONSOLE_TOML = f'''
[console]
bcrypt_cost = 4
warn_after_s = 2
danger_after_s = 4

[[console.action_plans]]
site = "*"
steps = ["Call the embassy's security officer", "Dispatch patrol"]

[[console.locations]]
gateway = "{c.GATEWAY_ID}"
input = "btn"
text = "{LOCATION}"
'''


def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is not installed in .venv-test: run `make deps`")
    for path, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not shutil.which(path):
            pytest.fail(f"{path} is missing: `make deps` installs Debian's {pkg}")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--autoplay-policy=no-user-gesture-required", "--window-size=1600,1000"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def add_operator(cfg, name: str, role: str, password: str) -> None:
    cp = subprocess.run([c.binary("panic-receiver"), "operators", "add", name, "--role", role, "--password-stdin",
                         "--config", str(cfg)], input=password + "\n", capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, f"operators add {name}: {cp.stderr}"


def log_in(driver, base: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    driver.get(base + "/console/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    c.wait_until(lambda: driver.execute_script("return document.querySelector('meta[name=page]') !== null"
                                               " && document.getElementById('live').textContent === 'live'"),
                 15, f"{name}'s queue page to be live")


def row_state(driver, incident_id: int) -> str | None:
    return driver.execute_script(
        "const r = document.getElementById('incident-' + arguments[0]); return r ? r.dataset.state : null;", incident_id)


def newest_incident(db) -> int | None:
    # Presses only: the gateway's clock (unsynchronised here) has its own incident.
    rows = c.query(db, "SELECT max(id) FROM incidents WHERE state <> 'resolved' AND kind = 'panic' AND site <> 'load site'")
    return rows[0][0] if rows and rows[0][0] is not None else None


def api_session(driver, base: str) -> tuple[requests.Session, str]:
    """The browser's session, for the test's own requests."""
    s = requests.Session()
    s.cookies.set("panic_session", driver.get_cookie("panic_session")["value"], path="/console")
    csrf = driver.execute_script("return document.querySelector('meta[name=csrf]').content")
    return s, csrf


@pytest.fixture
def console_rig(tmp_path, procs):
    key = c.keygen(tmp_path / "gateway.key")
    port = c.free_port()
    # The operators exist before the receiver starts (the CLI opens the same file).
    d = tmp_path / "receiver"
    d.mkdir()
    cfg = d / "setup.toml"
    cfg.write_text(c.receiver_toml(port=port, database=d / "receiver.db", public_keys=[key.public_b64], extra=CONSOLE_TOML))
    add_operator(cfg, "alice", "supervisor", "alice's long password")
    add_operator(cfg, "bob", "operator", "bob's long password!")
    rcv = c.start_receiver(procs, tmp_path, [key.public_b64], port=port, extra=CONSOLE_TOML)
    setup = c.make_gateway(tmp_path, rcv.base_url, key=key, heartbeat_interval_s=5)
    c.start_gateway(procs, setup)
    button = c.Button(setup.fifo)
    a, b = browser(), browser()
    try:
        yield rcv, button, a, b
    finally:
        button.close()
        a.quit()
        b.quit()


def test_an_alarm_is_seen_acknowledged_and_resolved_live_by_two_operators(console_rig):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    rcv, button, alice, bob = console_rig
    base = rcv.base_url
    log_in(alice, base, "alice", "alice's long password")
    log_in(bob, base, "bob", "bob's long password!")
    session, csrf = api_session(alice, base)

    # 100 presses, each resolved before the next: first edge → row on the page.
    latencies = []
    for k in range(100):
        before = newest_incident(rcv.database)
        button.click(hold_s=0.02, gap_s=0.01)
        iid = c.wait_until(lambda: (n := newest_incident(rcv.database)) != before and n, 10, f"press {k} to open an incident")
        seen = c.wait_until(lambda: alice.execute_script("return window.panicSeen[arguments[0]] || null", iid), 10,
                            f"incident {iid} on alice's page")
        occurred = alice.execute_script("return +document.getElementById('incident-' + arguments[0]).dataset.occurredMs", iid)
        latencies.append(seen - occurred)
        r = session.post(f"{base}/console/incidents/{iid}/resolve", headers={"X-CSRF-Token": csrf},
                         data={"disposition": "test", "note": f"latency run {k}"}, timeout=10)
        assert r.status_code == 200, r.text
        c.wait_until(lambda: row_state(alice, iid) is None, 10, f"resolved incident {iid} to leave alice's page")
    print(f"\nfirst edge -> row on the page, {len(latencies)} presses: p50 {c.percentile(latencies, 50):.0f} ms, "
          f"p90 {c.percentile(latencies, 90):.0f} ms, p99 {c.percentile(latencies, 99):.0f} ms, max {max(latencies):.0f} ms")
    # Speed is judged by `make bench` on the release build (issue #13's
    # 50 ms p99); here the row must be pushed, not polled for: each within 2 s.
    assert max(latencies) <= 2000, f"a row took {max(latencies)} ms: {sorted(latencies)[-5:]}"

    # One alarm handled through the pages, seen live by the other operator.
    before = newest_incident(rcv.database)
    button.click()
    iid = c.wait_until(lambda: (n := newest_incident(rcv.database)) != before and n, 10, "the handled press")
    for who in (alice, bob):
        c.wait_until(lambda: row_state(who, iid) == "new", 10, "the new alarm on both pages")
    row = alice.find_element(By.ID, f"incident-{iid}").text
    assert LOCATION in row and "PANIC" in row and c.GATEWAY_ID in row, row
    beeps = alice.execute_script("return window.panicBeeps || 0")
    assert beeps >= 1, "a new alarm sounds"
    c.wait_until(lambda: "danger" in alice.find_element(By.ID, f"incident-{iid}").get_attribute("class"), 10,
                 "the unacknowledged row to turn to danger (danger_after_s = 4)")
    alice.find_element(By.ID, f"ack-{iid}").click()
    c.wait_until(lambda: row_state(bob, iid) == "acknowledged", 5, "bob to see alice's acknowledgement live")
    assert "by alice" in bob.find_element(By.ID, f"incident-{iid}").text
    # The site's action plan, ticked in alice's panel, counted on bob's row.
    alice.find_element(By.ID, f"plan-{iid}").click()
    assert "Dispatch patrol" in alice.find_element(By.ID, "plan-steps").text
    alice.find_element(By.ID, f"step-button-{iid}-0").click()
    c.wait_until(lambda: "Plan 1/2" in bob.find_element(By.ID, f"incident-{iid}").text, 5, "bob to see step 1 ticked")
    c.wait_until(lambda: "alice" in alice.find_element(By.ID, f"step-{iid}-0").text, 5, "alice's panel to show who did step 1")
    assert "danger" not in alice.find_element(By.ID, f"incident-{iid}").get_attribute("class"), "acknowledged: no longer ageing"
    bob.find_element(By.ID, f"resolve-{iid}").click()
    Select(bob.find_element(By.ID, "resolve-disposition")).select_by_value("false-alarm")
    bob.find_element(By.ID, "resolve-note").send_keys("visitor leaned on it <b>hard</b>")
    bob.find_element(By.ID, "resolve-confirm").click()
    c.wait_until(lambda: row_state(alice, iid) is None, 5, "alice to see bob's resolution live")

    audit = c.query(rcv.database, "SELECT operator, action, detail FROM audit WHERE incident_id = ? ORDER BY number", (iid,))
    assert audit == [("alice", "acknowledged", ""), ("alice", "step-done", "1. Call the embassy's security officer"),
                     ("bob", "resolved", "false-alarm: visitor leaned on it <b>hard</b>")], audit
    alice.get(base + "/console/audit")
    page = alice.find_element(By.ID, "audit").text
    assert "visitor leaned on it <b>hard</b>" in page, "the note is shown as text on the audit page"
    alice.get(base + f"/console/history")
    assert "false-alarm" in alice.find_element(By.ID, "history").text

    # An operator's session does not reach the operators page; a supervisor's does.
    bob.get(base + "/console/operators")
    assert "only a supervisor" in bob.page_source
    alice.get(base + "/console/operators")
    assert "bob" in alice.find_element(By.ID, "operators").text


def add_open_alarms(db, n: int) -> None:
    """`n` open alarms of other inputs (site "load site"), written into the
    receiver's SQLite file as the receiver writes them."""
    now_ns = time.time_ns()
    con = sqlite3.connect(db, timeout=10)
    with con:
        change = con.execute("SELECT n FROM incident_change").fetchone()[0]
        con.executemany(
            "INSERT INTO incidents(change, gateway_id, site, input, kind, priority, test, occurred_at_ns, received_at_ns,"
            " clock_synchronized, presses, last_at_ns, detail) VALUES(?,?,?,?,?,?,0,?,?,1,1,?,?)",
            [(change + i + 1, c.GATEWAY_ID, "load site", f"input-{i}", "tamper" if i % 3 else "panic", 1 if i % 3 else 0,
              now_ns - i * 1_000_000, now_ns, now_ns, "bulk") for i in range(n)])
        con.execute("UPDATE incident_change SET n = ?", (change + n,))
    con.close()


def load_queue(driver, base: str, rows: int) -> dict[str, float]:
    """Loads the queue page; in ms from the request, by the browser's own
    clock (Navigation Timing and the page's marks): `painted` (the first
    screen of the most urgent rows on the screen), `complete` (every row in
    the page), `answer` (the receiver's answer received), `parse` (HTML
    parsed)."""
    driver.get(base + "/console")
    c.wait_until(lambda: driver.execute_script("return performance.getEntriesByName('queue-complete').length === 1"
                                               " && Object.keys(window.panicSeen).length >= arguments[0]", rows), 20, f"{rows} rows drawn")
    t = driver.execute_script(
        "const t = performance.getEntriesByType('navigation')[0], m = n => performance.getEntriesByName(n)[0].startTime - t.requestStart;"
        " return [m('queue-painted'), m('queue-complete'), t.responseEnd - t.requestStart, t.domInteractive - t.requestStart];")
    return dict(zip(("painted", "complete", "answer", "parse"), t))


def test_the_queue_with_a_thousand_open_alarms_stays_usable(console_rig):
    rcv, button, alice, _ = console_rig
    base = rcv.base_url
    log_in(alice, base, "alice", "alice's long password")
    # The baseline, in the same run: the same page with an empty queue.
    empty_loads = [load_queue(alice, base, 0)["painted"] for _ in range(5)]
    # 1,000 open alarms of other inputs, written as the receiver writes them.
    add_open_alarms(rcv.database, 1000)
    loads, complete, served = [], [], []
    for _ in range(5):
        t = load_queue(alice, base, 1000)
        loads.append(t["painted"])
        complete.append(t["complete"])
        served.append(t["answer"])
        print(f"  first screen {t['painted']:.0f} ms, every row {t['complete']:.0f} ms: answer {t['answer']:.0f}, parsed {t['parse']:.0f}")
    rows = alice.execute_script("return Array.from(document.getElementById('queue-body').rows)"
                                ".filter(r => r.textContent.includes('load site')).length")
    assert rows == 1000, rows
    # A new press with 1,000 rows on the page: edge → row.
    latencies = []
    for k in range(10):
        before = newest_incident(rcv.database)
        button.click(hold_s=0.02, gap_s=0.01)
        iid = c.wait_until(lambda: (n := newest_incident(rcv.database)) != before and n, 10, "a press among 1,000")
        seen = c.wait_until(lambda: alice.execute_script("return window.panicSeen[arguments[0]] || null", iid), 10, "its row")
        occurred = alice.execute_script("return +document.getElementById('incident-' + arguments[0]).dataset.occurredMs", iid)
        latencies.append(seen - occurred)
        first = alice.execute_script("return document.getElementById('queue-body').rows[0].id")
        assert first.startswith("incident-"), first
        session, csrf = api_session(alice, base)
        assert session.post(f"{base}/console/incidents/{iid}/resolve", headers={"X-CSRF-Token": csrf},
                            data={"disposition": "test"}, timeout=10).status_code == 200
        c.wait_until(lambda: row_state(alice, iid) is None, 10, "resolved row gone")
    print(f"\nempty queue (baseline): request → queue painted p50 {statistics.median(empty_loads):.0f} ms;"
          f" 1,000 open alarms: request → first screen painted p50 {statistics.median(loads):.0f} ms (max {max(loads):.0f}),"
          f" every row p50 {statistics.median(complete):.0f} ms (max {max(complete):.0f}) over {len(loads)} loads (of which the answer: p50 {statistics.median(served):.0f} ms); a new row among them: p50 {c.percentile(latencies, 50):.0f} ms,"
          f" max {max(latencies):.0f} ms over {len(latencies)} presses")
    # Figures for the record (the bench judges speed); usable means loaded and live.
    assert max(loads) <= 5000, f"page load {max(loads)} ms"
    assert max(latencies) <= 2000, f"a new row took {max(latencies)} ms with 1,000 on the page"
