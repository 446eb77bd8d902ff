import Foundation

/// The PostgreSQL database's versioned schema, in the one-row table
/// `panic_schema`. `panic-receiver migrate` applies the missing steps, each
/// in one transaction, under an advisory lock (two `migrate` at once are
/// safe); `serve` only checks, and refuses a schema it does not know, so a
/// replica never runs against another version's tables.
///
/// The decisions a replica must not make alone live in stored functions
/// that run as one statement, in one transaction, in one round trip:
/// `panic_store_alert` (exactly-once intake, sequence reuse and gaps under
/// a per-gateway lock), `panic_record_heartbeat` (replays, returns) and
/// `panic_mark_silent` (each silent episode flipped by exactly one caller).
public enum PostgresSchema {
    /// The version this build writes and understands.
    public static let current = 3

    /// The advisory lock `migrate` holds (an arbitrary constant: "panicmig").
    static let migrationLock: Int64 = 0x7061_6e69_636d_6967

    static let steps: [String] = [
        // 1: alerts, gateways, announced keys, nonces, the event log, and the
        // functions that decide intake and supervision.
        #"""
        CREATE TABLE alerts(
          gateway_id text NOT NULL, id text NOT NULL, sequence bigint NOT NULL, kind text NOT NULL,
          test boolean NOT NULL, occurred_at_ns bigint NOT NULL, received_at_ns bigint NOT NULL,
          key_id text NOT NULL, body bytea NOT NULL, PRIMARY KEY(gateway_id, id));
        CREATE INDEX alerts_by_gateway_sequence ON alerts(gateway_id, sequence);
        CREATE TABLE gateways(
          id text PRIMARY KEY, last_heartbeat_ns bigint, interval_s bigint, reported_sequence bigint,
          queued bigint, silent boolean NOT NULL DEFAULT false);
        CREATE TABLE announced_keys(
          key_id text PRIMARY KEY, gateway_id text NOT NULL, public_key text NOT NULL,
          announced_at_ns bigint NOT NULL, announced_by text);
        CREATE TABLE heartbeat_nonces(gateway_id text NOT NULL, id text NOT NULL, created_s bigint NOT NULL, PRIMARY KEY(gateway_id, id));
        CREATE INDEX heartbeat_nonces_by_created ON heartbeat_nonces(created_s);
        CREATE TABLE events(
          number bigserial PRIMARY KEY, at_ns bigint NOT NULL, gateway_id text NOT NULL,
          type text NOT NULL, text text NOT NULL);

        CREATE FUNCTION panic_store_alert(p_gateway text, p_id text, p_seq bigint, p_kind text, p_test boolean,
            p_occurred bigint, p_received bigint, p_key text, p_body bytea, p_text text,
            OUT outcome text, OUT earlier text)
        LANGUAGE plpgsql AS $$
        DECLARE v_prev bigint;
        BEGIN
          -- Consecutive alerts of one gateway on two replicas at once: the
          -- second waits for the first to commit, then sees it (no false gap).
          PERFORM pg_advisory_xact_lock(hashtextextended('alerts/' || p_gateway, 0));
          INSERT INTO alerts(gateway_id, id, sequence, kind, test, occurred_at_ns, received_at_ns, key_id, body)
            VALUES(p_gateway, p_id, p_seq, p_kind, p_test, p_occurred, p_received, p_key, p_body)
            ON CONFLICT (gateway_id, id) DO NOTHING;
          IF NOT FOUND THEN outcome := 'duplicate'; RETURN; END IF;
          SELECT a.id INTO earlier FROM alerts a WHERE a.gateway_id = p_gateway AND a.sequence = p_seq AND a.id <> p_id LIMIT 1;
          SELECT max(a.sequence) INTO v_prev FROM alerts a WHERE a.gateway_id = p_gateway AND a.id <> p_id;
          INSERT INTO gateways(id) VALUES(p_gateway) ON CONFLICT DO NOTHING;
          IF earlier IS NOT NULL THEN
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_received, p_gateway, 'seq-reuse',
              format('sequence %s arrived again with a new id %s (earlier: %s); the gateway''s outbox was lost or restored; stored as a new alert', p_seq, p_id, earlier));
          END IF;
          INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_received, p_gateway, 'alert', p_text);
          IF earlier IS NULL AND v_prev IS NOT NULL AND p_seq > v_prev + 1 THEN
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_received, p_gateway, 'gap',
              format('sequence jumped from %s to %s: %s...%s not (yet) received', v_prev, p_seq, v_prev + 1, p_seq - 1));
          END IF;
          outcome := CASE WHEN earlier IS NULL THEN 'created' ELSE 'reused' END;
        END $$;

        CREATE FUNCTION panic_record_heartbeat(p_gateway text, p_id text, p_created bigint, p_now bigint,
            p_interval bigint, p_last_seq bigint, p_queued bigint, p_online text)
        RETURNS text LANGUAGE plpgsql AS $$
        DECLARE v_silent boolean; v_first boolean;
        BEGIN
          INSERT INTO heartbeat_nonces(gateway_id, id, created_s) VALUES(p_gateway, p_id, p_created) ON CONFLICT DO NOTHING;
          IF NOT FOUND THEN RETURN 'replay'; END IF;
          INSERT INTO gateways(id) VALUES(p_gateway) ON CONFLICT DO NOTHING;
          -- The row lock orders this with panic_mark_silent: a gateway marked
          -- silent a moment ago is seen silent here, and its return logged.
          SELECT silent, last_heartbeat_ns IS NULL INTO v_silent, v_first FROM gateways WHERE id = p_gateway FOR UPDATE;
          UPDATE gateways SET last_heartbeat_ns = p_now, interval_s = p_interval, reported_sequence = p_last_seq,
                 queued = p_queued, silent = false WHERE id = p_gateway;
          IF v_silent THEN
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_now, p_gateway, 'back', 'heartbeats resumed');
          END IF;
          IF v_first THEN
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_now, p_gateway, 'online', p_online);
          END IF;
          RETURN CASE WHEN v_silent THEN 'was-silent' ELSE 'ok' END;
        END $$;

        CREATE FUNCTION panic_mark_silent(p_now bigint, p_n bigint, p_watch_start bigint)
        RETURNS SETOF text LANGUAGE sql AS $$
          -- One UPDATE decides: a second replica running it at the same moment
          -- re-reads the row after the first commits, finds it silent, and skips it.
          WITH flipped AS (
            UPDATE gateways SET silent = true
             WHERE silent = false AND last_heartbeat_ns IS NOT NULL
               AND (p_now::numeric - GREATEST(last_heartbeat_ns, p_watch_start)::numeric)
                   > COALESCE(interval_s, 60)::numeric * p_n * 1000000000
            RETURNING id, GREATEST(last_heartbeat_ns, p_watch_start) AS since, COALESCE(interval_s, 60) AS interval_s),
          logged AS (
            INSERT INTO events(at_ns, gateway_id, type, text)
            SELECT p_now, id, 'silent', format('no heartbeat for %s s (interval %s s × %s)', ((p_now::numeric - since::numeric) / 1000000000)::bigint, interval_s, p_n)
              FROM flipped
            RETURNING gateway_id)
          SELECT gateway_id FROM logged;
        $$;
        """#,
        // 2: the gateway registry: gateways and keys added with
        // `panic-receiver gateways`, trusted by every replica; a change bumps
        // the version (the truth replicas poll) and notifies (the wake-up).
        #"""
        CREATE TABLE registered_gateways(id text PRIMARY KEY, site text NOT NULL, enabled boolean NOT NULL DEFAULT true, added_at_ns bigint NOT NULL);
        CREATE TABLE registered_keys(key_id text PRIMARY KEY, gateway_id text NOT NULL REFERENCES registered_gateways(id) ON DELETE CASCADE,
          public_key text NOT NULL UNIQUE, added_at_ns bigint NOT NULL);
        CREATE TABLE registry_version(version bigint NOT NULL);
        INSERT INTO registry_version VALUES(0);
        CREATE FUNCTION panic_registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE registry_version SET version = version + 1;
          PERFORM pg_notify('panic_registry', '');
          RETURN NULL;
        END $$;
        CREATE TRIGGER registered_gateways_changed AFTER INSERT OR UPDATE OR DELETE ON registered_gateways
          FOR EACH STATEMENT EXECUTE FUNCTION panic_registry_changed();
        CREATE TRIGGER registered_keys_changed AFTER INSERT OR UPDATE OR DELETE ON registered_keys
          FOR EACH STATEMENT EXECUTE FUNCTION panic_registry_changed();
        """#,
        // 3: the operator console: operators, sessions, incidents opened in
        // the intake's and supervision's own transactions, the append-only
        // audit log and the escalation outbox. Every incident change first
        // takes the one row of `incident_change` (panic_next_change): commits
        // that change incidents are ordered by their change numbers, so a
        // console that has read change n has read every change before it;
        // the notification wakes the consoles of every replica.
        #"""
        CREATE TABLE operators(name text PRIMARY KEY, role text NOT NULL CHECK(role IN ('operator', 'supervisor')),
          password_hash text NOT NULL, enabled boolean NOT NULL DEFAULT true, created_at_ns bigint NOT NULL, changed_at_ns bigint NOT NULL);
        CREATE TABLE console_sessions(token_hash text PRIMARY KEY, operator text NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
          csrf text NOT NULL, created_at_ns bigint NOT NULL, expires_at_ns bigint NOT NULL);
        CREATE INDEX console_sessions_by_operator ON console_sessions(operator);
        CREATE TABLE incidents(
          id bigserial PRIMARY KEY, change bigint NOT NULL, gateway_id text NOT NULL, site text NOT NULL, input text,
          kind text NOT NULL, priority integer NOT NULL, test boolean NOT NULL, zone bigint, area bigint, first_alert_id text,
          occurred_at_ns bigint NOT NULL, received_at_ns bigint NOT NULL, clock_synchronized boolean NOT NULL,
          presses bigint NOT NULL DEFAULT 1, last_at_ns bigint NOT NULL, restored_at_ns bigint,
          state text NOT NULL DEFAULT 'new' CHECK(state IN ('new', 'acknowledged', 'resolved')),
          acknowledged_by text, acknowledged_at_ns bigint, resolved_by text, resolved_at_ns bigint, disposition text, note text,
          detail text NOT NULL, escalated_at_ns bigint);
        CREATE UNIQUE INDEX incidents_one_open ON incidents(gateway_id, coalesce(input, ''), kind) WHERE state <> 'resolved';
        CREATE INDEX incidents_open ON incidents(priority, occurred_at_ns) WHERE state <> 'resolved';
        CREATE INDEX incidents_by_change ON incidents(change);
        CREATE INDEX incidents_by_site ON incidents(site, occurred_at_ns);
        CREATE INDEX incidents_by_gateway ON incidents(gateway_id, occurred_at_ns);
        CREATE TABLE incident_change(n bigint NOT NULL);
        INSERT INTO incident_change VALUES(0);
        CREATE TABLE audit(number bigserial PRIMARY KEY, at_ns bigint NOT NULL, operator text NOT NULL,
          incident_id bigint, action text NOT NULL, detail text NOT NULL);
        CREATE INDEX audit_by_incident ON audit(incident_id, number);
        CREATE FUNCTION panic_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'the audit log is append-only';
        END $$;
        CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION panic_audit_append_only();
        CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION panic_audit_append_only();
        CREATE TABLE incident_steps(incident_id bigint NOT NULL, step integer NOT NULL, text text NOT NULL,
          done_by text NOT NULL, done_at_ns bigint NOT NULL, PRIMARY KEY(incident_id, step));
        CREATE TABLE escalations(id bigserial PRIMARY KEY, incident_id bigint NOT NULL, webhook text NOT NULL,
          body bytea NOT NULL, created_at_ns bigint NOT NULL, attempts integer NOT NULL DEFAULT 0, next_attempt_at_ns bigint NOT NULL,
          delivered_at_ns bigint, last_error text, UNIQUE(incident_id, webhook));
        CREATE INDEX escalations_due ON escalations(next_attempt_at_ns) WHERE delivered_at_ns IS NULL;

        CREATE FUNCTION panic_next_change() RETURNS bigint LANGUAGE plpgsql AS $$
        DECLARE v bigint;
        BEGIN
          UPDATE incident_change SET n = n + 1 RETURNING n INTO v;
          PERFORM pg_notify('panic_incidents', '');
          RETURN v;
        END $$;

        CREATE FUNCTION panic_audit(p_at bigint, p_who text, p_incident bigint, p_action text, p_detail text)
        RETURNS void LANGUAGE sql AS $$
          INSERT INTO audit(at_ns, operator, incident_id, action, detail) VALUES(p_at, p_who, p_incident, p_action, p_detail);
        $$;

        CREATE FUNCTION panic_open_incident(p_gateway text, p_site text, p_input text, p_kind text, p_priority integer, p_test boolean,
            p_zone bigint, p_area bigint, p_alert text, p_occurred bigint, p_received bigint, p_clock boolean, p_detail text)
        RETURNS void LANGUAGE plpgsql AS $$
        DECLARE v_change bigint := panic_next_change();
        BEGIN
          -- A repeated press while the incident is open: one row, counted, not a flood.
          UPDATE incidents SET presses = presses + 1, last_at_ns = p_occurred, restored_at_ns = NULL, detail = p_detail, change = v_change
           WHERE gateway_id = p_gateway AND coalesce(input, '') = coalesce(p_input, '') AND kind = p_kind AND state <> 'resolved';
          IF FOUND THEN RETURN; END IF;
          INSERT INTO incidents(change, gateway_id, site, input, kind, priority, test, zone, area, first_alert_id, occurred_at_ns,
              received_at_ns, clock_synchronized, presses, last_at_ns, detail)
            VALUES(v_change, p_gateway, p_site, p_input, p_kind, p_priority, p_test, p_zone, p_area, p_alert, p_occurred,
              p_received, p_clock, 1, p_occurred, p_detail);
        END $$;

        CREATE FUNCTION panic_gateway_site(p_gateway text) RETURNS text LANGUAGE sql AS $$
          SELECT coalesce((SELECT site FROM registered_gateways WHERE id = p_gateway),
                          (SELECT site FROM incidents WHERE gateway_id = p_gateway ORDER BY id DESC LIMIT 1), '');
        $$;

        DROP FUNCTION panic_store_alert(text, text, bigint, text, boolean, bigint, bigint, text, bytea, text);
        CREATE FUNCTION panic_store_alert(p_gateway text, p_id text, p_seq bigint, p_kind text, p_test boolean,
            p_occurred bigint, p_received bigint, p_key text, p_body bytea, p_text text,
            p_site text, p_input text, p_zone bigint, p_area bigint, p_clock boolean,
            p_opens text, p_priority integer, p_restores text,
            OUT outcome text, OUT earlier text)
        LANGUAGE plpgsql AS $$
        DECLARE v_prev bigint; v_note text; v_change bigint;
        BEGIN
          -- Consecutive alerts of one gateway on two replicas at once: the
          -- second waits for the first to commit, then sees it (no false gap).
          PERFORM pg_advisory_xact_lock(hashtextextended('alerts/' || p_gateway, 0));
          INSERT INTO alerts(gateway_id, id, sequence, kind, test, occurred_at_ns, received_at_ns, key_id, body)
            VALUES(p_gateway, p_id, p_seq, p_kind, p_test, p_occurred, p_received, p_key, p_body)
            ON CONFLICT (gateway_id, id) DO NOTHING;
          IF NOT FOUND THEN outcome := 'duplicate'; RETURN; END IF;
          SELECT a.id INTO earlier FROM alerts a WHERE a.gateway_id = p_gateway AND a.sequence = p_seq AND a.id <> p_id LIMIT 1;
          SELECT max(a.sequence) INTO v_prev FROM alerts a WHERE a.gateway_id = p_gateway AND a.id <> p_id;
          INSERT INTO gateways(id) VALUES(p_gateway) ON CONFLICT DO NOTHING;
          IF earlier IS NOT NULL THEN
            v_note := format('sequence %s arrived again with a new id %s (earlier: %s); the gateway''s outbox was lost or restored; stored as a new alert', p_seq, p_id, earlier);
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_received, p_gateway, 'seq-reuse', v_note);
            PERFORM panic_open_incident(p_gateway, p_site, NULL, 'sequence', 4, false, NULL, NULL, NULL, p_received, p_received, true, v_note);
          END IF;
          INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_received, p_gateway, 'alert', p_text);
          -- The alarm is queued for an operator in the transaction that stores it.
          IF p_opens IS NOT NULL THEN
            PERFORM panic_open_incident(p_gateway, p_site, p_input, p_opens, p_priority, p_test, p_zone, p_area, p_id,
              p_occurred, p_received, p_clock, p_text);
          ELSIF p_restores IS NOT NULL THEN
            IF EXISTS(SELECT 1 FROM incidents WHERE gateway_id = p_gateway AND coalesce(input, '') = coalesce(p_input, '')
                        AND kind = p_restores AND state <> 'resolved') THEN
              -- The counter's row before any incident's row, as every incident writer.
              v_change := panic_next_change();
              UPDATE incidents SET restored_at_ns = p_occurred, change = v_change
               WHERE gateway_id = p_gateway AND coalesce(input, '') = coalesce(p_input, '') AND kind = p_restores AND state <> 'resolved';
            END IF;
          END IF;
          IF earlier IS NULL AND v_prev IS NOT NULL AND p_seq > v_prev + 1 THEN
            v_note := format('sequence jumped from %s to %s: %s...%s not (yet) received', v_prev, p_seq, v_prev + 1, p_seq - 1);
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_received, p_gateway, 'gap', v_note);
            PERFORM panic_open_incident(p_gateway, p_site, NULL, 'sequence', 4, false, NULL, NULL, NULL, p_received, p_received, true, v_note);
          END IF;
          outcome := CASE WHEN earlier IS NULL THEN 'created' ELSE 'reused' END;
        END $$;

        DROP FUNCTION panic_record_heartbeat(text, text, bigint, bigint, bigint, bigint, bigint, text);
        CREATE FUNCTION panic_record_heartbeat(p_gateway text, p_id text, p_created bigint, p_now bigint,
            p_interval bigint, p_last_seq bigint, p_queued bigint, p_online text, p_site text, p_clock boolean)
        RETURNS text LANGUAGE plpgsql AS $$
        DECLARE v_silent boolean; v_first boolean; v_clock_id bigint; v_clock_restored bigint; v_change bigint;
        BEGIN
          INSERT INTO heartbeat_nonces(gateway_id, id, created_s) VALUES(p_gateway, p_id, p_created) ON CONFLICT DO NOTHING;
          IF NOT FOUND THEN RETURN 'replay'; END IF;
          INSERT INTO gateways(id) VALUES(p_gateway) ON CONFLICT DO NOTHING;
          -- The row lock orders this with panic_mark_silent: a gateway marked
          -- silent a moment ago is seen silent here, and its return logged.
          SELECT silent, last_heartbeat_ns IS NULL INTO v_silent, v_first FROM gateways WHERE id = p_gateway FOR UPDATE;
          UPDATE gateways SET last_heartbeat_ns = p_now, interval_s = p_interval, reported_sequence = p_last_seq,
                 queued = p_queued, silent = false WHERE id = p_gateway;
          IF v_silent THEN
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_now, p_gateway, 'back', 'heartbeats resumed');
            -- The counter's row before any incident's row, as every incident writer.
            v_change := panic_next_change();
            UPDATE incidents SET restored_at_ns = p_now, change = v_change
             WHERE gateway_id = p_gateway AND kind = 'silent' AND state <> 'resolved';
          END IF;
          IF v_first THEN
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_now, p_gateway, 'online', p_online);
          END IF;
          -- The clock: an unsynchronised clock opens one incident per episode,
          -- not one per heartbeat; synchronised again marks it so, once. Looked
          -- at without the counter's row: most heartbeats change nothing and
          -- must not wake every console. (Heartbeats of one gateway are
          -- ordered by its row; an operator resolving the incident meanwhile
          -- leaves an update that finds no row.)
          SELECT id, restored_at_ns INTO v_clock_id, v_clock_restored FROM incidents
           WHERE gateway_id = p_gateway AND kind = 'clock' AND state <> 'resolved';
          IF p_clock AND v_clock_id IS NOT NULL AND v_clock_restored IS NULL THEN
            v_change := panic_next_change();
            UPDATE incidents SET restored_at_ns = p_now, change = v_change WHERE id = v_clock_id AND state <> 'resolved';
          ELSIF NOT p_clock AND v_clock_id IS NULL THEN
            PERFORM panic_open_incident(p_gateway, p_site, NULL, 'clock', 5, false, NULL, NULL, NULL, p_now, p_now, false,
              'the gateway''s clock is not synchronised: the press times it reports may be wrong');
          ELSIF NOT p_clock AND v_clock_restored IS NOT NULL THEN
            -- Lost its synchronisation again while the incident is open.
            v_change := panic_next_change();
            UPDATE incidents SET restored_at_ns = NULL, presses = presses + 1, last_at_ns = p_now, change = v_change
             WHERE id = v_clock_id AND state <> 'resolved';
          END IF;
          RETURN CASE WHEN v_silent THEN 'was-silent' ELSE 'ok' END;
        END $$;

        DROP FUNCTION panic_mark_silent(bigint, bigint, bigint);
        CREATE FUNCTION panic_mark_silent(p_now bigint, p_n bigint, p_watch_start bigint)
        RETURNS SETOF text LANGUAGE plpgsql AS $$
        DECLARE r record; v_note text;
        BEGIN
          -- One UPDATE decides: a second replica running it at the same moment
          -- re-reads the row after the first commits, finds it silent, and skips
          -- it. (The UPDATE runs to its end, taking its gateways' rows, before
          -- the loop takes the counter's row for their incidents.)
          FOR r IN
            UPDATE gateways SET silent = true
             WHERE silent = false AND last_heartbeat_ns IS NOT NULL
               AND (p_now::numeric - GREATEST(last_heartbeat_ns, p_watch_start)::numeric)
                   > COALESCE(interval_s, 60)::numeric * p_n * 1000000000
            RETURNING id, GREATEST(last_heartbeat_ns, p_watch_start) AS since, COALESCE(interval_s, 60) AS interval_s
          LOOP
            v_note := format('no heartbeat for %s s (interval %s s × %s)', ((p_now::numeric - r.since::numeric) / 1000000000)::bigint, r.interval_s, p_n);
            INSERT INTO events(at_ns, gateway_id, type, text) VALUES(p_now, r.id, 'silent', v_note);
            PERFORM panic_open_incident(r.id, panic_gateway_site(r.id), NULL, 'silent', 2, false, NULL, NULL, NULL, p_now, p_now, true, v_note);
            RETURN NEXT r.id;
          END LOOP;
        END $$;
        """#,
    ]
}

extension PostgresSchema {
    /// A step's statements, one by one (the extended query protocol takes
    /// one statement at a time): split at `;` at the end of a line, outside
    /// `$$` function bodies.
    static func statements(_ sql: String) -> [String] {
        var out: [String] = [], current = "", inBody = false
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("--") && !inBody { continue }
            current += line + "\n"
            if line.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            if !inBody && trimmed.hasSuffix(";") {
                out.append(current.trimmingCharacters(in: .whitespacesAndNewlines))
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { out.append(rest) }
        return out
    }
}
