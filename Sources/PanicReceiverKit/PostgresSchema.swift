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
    public static let current = 2

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
