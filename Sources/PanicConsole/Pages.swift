import Foundation
import PanicConfig
import PanicCore
import PanicReceiverKit

/// The console's server-rendered pages. Every value from outside goes
/// through `HTML.escape`; the pages carry no inline script or style (the
/// Content-Security-Policy forbids both), only /console/console.js and .css.
enum Pages {
    static func layout(title: String, session: ConsoleSession?, body: String, meta: [String: String] = [:]) -> String {
        let metas = meta.sorted { $0.key < $1.key }.map { "<meta name=\"\(HTML.escape($0.key))\" content=\"\(HTML.escape($0.value))\">" }.joined(separator: "\n")
        var nav = ""
        if let s = session {
            nav = """
            <nav><a href="/console">Queue</a> <a href="/console/history">History</a> <a href="/console/audit">Audit log</a>\
            \(s.role == .supervisor ? " <a href=\"/console/operators\">Operators</a>" : "")
            <span class="who">\(HTML.escape(s.operatorName)) (\(s.role.rawValue))</span>
            <form method="post" action="/console/logout" class="inline"><input type="hidden" name="csrf" value="\(HTML.escape(s.csrfToken))"><button type="submit">Log out</button></form>
            <button type="button" id="sound">Sound: off</button></nav>
            """
        }
        return """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>\(HTML.escape(title)) — panic-receiver</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        \(metas)
        <link rel="stylesheet" href="/console/console.css"><script src="/console/console.js" defer></script></head>
        <body><header><h1>\(HTML.escape(title))</h1>\(nav)</header><main>\(body)</main>
        <div id="status" role="status" aria-live="polite"></div></body></html>
        """
    }

    static func login(error: String?) -> String {
        layout(title: "Operator login", session: nil, body: """
            \(error.map { "<p class=\"error\" id=\"login-error\">\(HTML.escape($0))</p>" } ?? "")
            <form method="post" action="/console/login" id="login">
            <label>Name <input name="name" id="name" autocomplete="username" required maxlength="64" autofocus></label>
            <label>Password <input name="password" id="password" type="password" autocomplete="current-password" required maxlength="200"></label>
            <button type="submit" id="login-submit">Log in</button></form>
            """)
    }

    static let columns = ["Alarm", "Site", "Gateway", "Input", "Zone / area", "Location", "Pressed (first edge)", "Received", "Clock", "Presses", "State", "Action"]

    /// Rows the server writes into the queue page: the most urgent, a
    /// screenful and more, readable before (or without) the script. The
    /// script draws the rest from the page's JSON in one go — a browser lays
    /// out rows it builds at once far faster than rows it parses in pieces.
    static let serverRows = 100

    static func queue(_ incidents: [IncidentView], session: ConsoleSession, cursor: Int64, console: ReceiverConfig.Console) -> String {
        let rows = incidents.prefix(serverRows).map(row).joined(separator: "\n")
        let more = incidents.count - min(incidents.count, serverRows)
        return layout(title: "Alarm queue", session: session, body: """
            <p id="live" class="live">connecting…</p>
            <table id="queue" role="table"><thead role="rowgroup"><tr role="row">\(columns.map { "<th role=\"columnheader\">\($0)</th>" }.joined())</tr></thead>
            <tbody id="queue-body" role="rowgroup">
            \(rows)
            </tbody></table>
            \(more > 0 ? "<noscript><p class=\"error\">\(more) more open alarms: this page needs JavaScript to show them, and to stay live.</p></noscript>" : "")
            <p id="empty" class="empty"\(incidents.isEmpty ? "" : " hidden")>No open alarms.</p>
            <script type="application/json" id="incidents-json">\(dataBlock(incidents))</script>
            <div id="plan-panel" class="panel" hidden><h2 id="plan-title">Action plan</h2><ol id="plan-steps"></ol>
            <button type="button" id="plan-close">Close</button></div>
            <form id="resolve-panel" class="panel" hidden><h2 id="resolve-title">Resolve</h2>
            <label>Disposition <select id="resolve-disposition">\(dispositions.map { "<option value=\"\($0)\">\($0)</option>" }.joined())</select></label>
            <label>Note <input id="resolve-note" maxlength="4000" size="60"></label>
            <button type="submit" id="resolve-confirm">Resolve</button> <button type="button" id="resolve-cancel">Cancel</button></form>
            """, meta: ["csrf": session.csrfToken, "cursor": String(cursor), "warn-after-ms": String(console.warnAfterSeconds * 1000),
                        "danger-after-ms": String(console.dangerAfterSeconds * 1000), "page": "queue"])
    }

    /// The incidents as JSON inside a data block: no '<' can end the block
    /// (JSON allows the escape), so no text from a gateway can leave it.
    static func dataBlock(_ incidents: [IncidentView]) -> String {
        // `IncidentView.json` writes every '<' as \u003c already.
        "[" + incidents.map(\.json).joined(separator: ",") + "]"
    }

    static let dispositions = Disposition.allCases.map(\.rawValue)

    /// One queue row, exactly as the script renders a changed one
    /// (`render` in ConsoleAssets.swift): the buttons work by delegation.
    static func row(_ i: IncidentView) -> String {
        let actions = (i.state == "new" ? "<button type=\"button\" class=\"ack\" id=\"ack-\(i.id)\">Acknowledge</button> " : "")
            + "<button type=\"button\" class=\"resolve\" id=\"resolve-\(i.id)\">Resolve\u{2026}</button>"
            + (i.plan.isEmpty ? "" : " <button type=\"button\" class=\"plan\" id=\"plan-\(i.id)\">Plan \(i.plan.filter { $0.doneBy != nil }.count)/\(i.plan.count)</button>")
        let cells: [(String, String)] = [
            ("kind kind-\(HTML.escape(i.kind))", HTML.escape(i.kind.uppercased()) + (i.test ? "<span class=\"test\"> TEST</span>" : "")
                + (i.escalatedAt != nil ? "<span class=\"escalated\"> ESCALATED</span>" : "")),
            ("", HTML.escape(i.site)), ("", HTML.escape(i.gatewayID)), ("", HTML.escape(i.input ?? "\u{2014}")),
            ("", "\(i.zone.map(String.init) ?? "\u{2014}") / \(i.area.map(String.init) ?? "\u{2014}")"),
            ("location", HTML.escape(i.location ?? "\u{2014}")),
            ("", HTML.escape(i.occurredAt)), ("", HTML.escape(i.receivedAt)),
            (i.clockSynchronized ? "" : "unsync", i.clockSynchronized ? "synchronised" : "NOT synchronised"),
            ("", String(i.presses) + (i.restoredAt != nil ? " (released)" : "")),
            ("state", HTML.escape(i.state) + (i.acknowledgedBy.map { " by " + HTML.escape($0) } ?? "")),
            ("actions", actions),
        ]
        return "<tr role=\"row\" id=\"incident-\(i.id)\" data-id=\"\(i.id)\" data-state=\"\(HTML.escape(i.state))\" data-priority=\"\(i.priority)\" data-occurred-ms=\"\(i.occurredMs)\" data-received-ms=\"\(i.receivedMs)\">"
            + cells.map { $0.0.isEmpty ? "<td role=\"cell\">\($0.1)</td>" : "<td role=\"cell\" class=\"\($0.0)\">\($0.1)</td>" }.joined() + "</tr>"
    }

    static func audit(_ entries: [AuditEntry], session: ConsoleSession) -> String {
        let rows = entries.map { e in
            "<tr><td>\(e.number)</td><td>\(HTML.escape(e.at.rfc3339))</td><td>\(HTML.escape(e.operatorName))</td><td>\(e.incidentID.map(String.init) ?? "—")</td><td>\(HTML.escape(e.action))</td><td>\(HTML.escape(e.detail))</td></tr>"
        }.joined(separator: "\n")
        return layout(title: "Audit log", session: session, body: """
            <table id="audit"><thead><tr><th>#</th><th>Time</th><th>Operator</th><th>Incident</th><th>Action</th><th>Detail</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """)
    }

    static func history(_ incidents: [IncidentView], session: ConsoleSession, site: String?, gateway: String?) -> String {
        let rows = incidents.map { i in
            "<tr><td>\(i.id)</td><td>\(HTML.escape(i.occurredAt))</td><td>\(HTML.escape(i.site))</td><td>\(HTML.escape(i.gatewayID))</td><td>\(HTML.escape(i.input ?? "—"))</td><td>\(HTML.escape(i.kind))</td><td>\(HTML.escape(i.state))</td><td>\(HTML.escape(i.disposition ?? "—"))</td><td>\(HTML.escape(i.resolvedBy ?? "—"))</td><td>\(HTML.escape(i.note ?? ""))</td></tr>"
        }.joined(separator: "\n")
        var query: [String] = []
        if let site { query.append("site=" + FormFields.encode(site)) }
        if let gateway { query.append("gateway=" + FormFields.encode(gateway)) }
        let csv = "/console/history.csv" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        return layout(title: "History", session: session, body: """
            <form method="get" action="/console/history"><label>Site <input name="site" value="\(HTML.escape(site ?? ""))"></label>
            <label>Gateway <input name="gateway" value="\(HTML.escape(gateway ?? ""))"></label><button type="submit">Show</button>
            <a href="\(HTML.escape(csv))" id="csv">CSV</a></form>
            <table id="history"><thead><tr><th>#</th><th>Pressed</th><th>Site</th><th>Gateway</th><th>Input</th><th>Kind</th><th>State</th><th>Disposition</th><th>Resolved by</th><th>Note</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """)
    }

    static func operators(_ accounts: [OperatorAccount], session: ConsoleSession, message: String?) -> String {
        let rows = accounts.map { "<tr><td>\(HTML.escape($0.name))</td><td>\($0.role.rawValue)</td><td>\($0.enabled ? "enabled" : "disabled")</td></tr>" }.joined()
        return layout(title: "Operators", session: session, body: """
            \(message.map { "<p class=\"error\">\(HTML.escape($0))</p>" } ?? "")
            <table id="operators"><thead><tr><th>Name</th><th>Role</th><th>State</th></tr></thead><tbody>\(rows)</tbody></table>
            <h2>Add an operator</h2>
            <form method="post" action="/console/operators"><input type="hidden" name="csrf" value="\(HTML.escape(session.csrfToken))">
            <label>Name <input name="name" required maxlength="64"></label>
            <label>Role <select name="role"><option>operator</option><option>supervisor</option></select></label>
            <label>Password <input name="password" type="password" required minlength="12" maxlength="72"></label>
            <button type="submit">Add</button></form>
            """)
    }
}

/// application/x-www-form-urlencoded, both ways.
enum FormFields {
    /// The fields of a form body or query (the last of a repeated name wins).
    static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String? { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let name = parts.first.flatMap(decode) else { continue }
            out[name] = parts.count > 1 ? (decode(parts[1]) ?? "") : ""
        }
        return out
    }

    static func encode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
