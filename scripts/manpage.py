#!/usr/bin/env python3
"""Renders a man page (roff, man(7) macros) for one of the project's commands
from swift-argument-parser's `--experimental-dump-help` JSON: every
subcommand with its arguments, options, defaults and allowed values, plus the
FILES / EXIT STATUS / SEE ALSO sections written below for each tool.

    panic-gateway --experimental-dump-help | scripts/manpage.py --section 8 --version 1.0 > panic-gateway.8
"""
import argparse
import datetime
import json
import os
import sys

EXTRA = {
    "panic-gateway": {
        "FILES": [
            ("/etc/panic-gateway/gateway.toml", "Configuration (TOML). Unknown keys are errors; check it with \\fBpanic-gateway check-config\\fR."),
            ("/var/lib/panic-gateway/outbox.db", "The durable outbox (SQLite, WAL). Alerts stay here until every destination has them."),
            ("/var/lib/panic-gateway/gateway.key", "The gateway's Ed25519 signing key, mode 0600; created on first start when absent."),
            ("/run/panic-gateway/", "Runtime files: FIFOs of simulated inputs."),
            ("/lib/systemd/system/panic-gateway.service", "The systemd unit (Type=notify, watchdog, sandbox)."),
            ("/lib/udev/rules.d/60-panic-gateway-gpio.rules", "Gives /dev/gpiochip* to group panic-gateway."),
        ],
        "EXIT STATUS": "0 ok, 2 configuration refused, 3 key file problem, 4 could not start.",
        "SIGNALS": "SIGTERM and SIGINT stop the daemon gracefully: deliveries stop, the input loop stops, "
                   "the outbox writer commits what it still holds. SIGHUP re-reads the configuration.",
        "SEE ALSO": "\\fBpanicctl\\fR(1), \\fBpanic-receiver\\fR(8), \\fBsystemd.service\\fR(5), "
                    "/usr/share/doc/panic-gateway/README.md",
    },
    "panicctl": {
        "FILES": [
            ("/etc/panic-gateway/gateway.toml", "The gateway's configuration, read by default."),
            ("/var/lib/panic-gateway/outbox.db", "The outbox the queue commands read."),
        ],
        "SEE ALSO": "\\fBpanic-gateway\\fR(8), \\fBpanic-receiver\\fR(8)",
    },
    "panic-receiver": {
        "FILES": [
            ("/etc/panic-receiver/receiver.toml", "Configuration; an example is installed as receiver.toml.example."),
            ("/var/lib/panic-receiver/receiver.db", "Alerts, heartbeats and supervision events (SQLite)."),
            ("/lib/systemd/system/panic-receiver.service", "The systemd unit (installed, not enabled)."),
        ],
        "SEE ALSO": "\\fBpanic-gateway\\fR(8), \\fBpanicctl\\fR(1)",
    },
}


def esc(text):
    """Escapes text for roff: backslashes, hyphens, and a leading dot or quote."""
    text = str(text).replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith(".") or line.startswith("'"):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def flag_names(arg):
    names = []
    for n in arg.get("names", []):
        names.append(("-" if n["kind"] == "short" else "--") + n["name"])
    # short first, as --help prints them
    names.sort(key=lambda s: (not (s.startswith("-") and not s.startswith("--")), s))
    return names


def argument_item(arg):
    kind = arg["kind"]
    value = arg.get("valueName", "value")
    if kind == "positional":
        head = "\\fI" + esc(value) + "\\fR"
    else:
        parts = ["\\fB" + esc(n) + "\\fR" for n in flag_names(arg)]
        head = ", ".join(parts)
        if kind == "option":
            head += " \\fI" + esc(value) + "\\fR"
    if arg.get("isRepeating"):
        head += " ..."
    body = esc(arg.get("abstract", ""))
    if arg.get("discussion"):
        body += "\n" + esc(arg["discussion"])
    facts = []
    if arg.get("allValues"):
        facts.append("values: " + ", ".join(arg["allValues"]))
    if "defaultValue" in arg:
        facts.append("default: " + str(arg["defaultValue"]))
    if facts:
        body += " (" + esc("; ".join(facts)) + ")"
    return ".TP\n" + head + "\n" + body + "\n"


def synopsis(path, cmd):
    words = ["\\fB" + esc(" ".join(path)) + "\\fR"]
    for arg in cmd.get("arguments", []):
        if not arg.get("shouldDisplay", True) or arg.get("valueName") == "help":
            continue
        if arg["kind"] == "positional":
            w = "\\fI" + esc(arg.get("valueName", "value")) + "\\fR"
        else:
            name = arg.get("preferredName") or arg["names"][0]
            w = "\\fB" + esc(("-" if name["kind"] == "short" else "--") + name["name"]) + "\\fR"
            if arg["kind"] == "option":
                w += " \\fI" + esc(arg.get("valueName", "value")) + "\\fR"
        if arg.get("isRepeating"):
            w += " ..."
        words.append("[" + w + "]" if arg.get("isOptional") else w)
    return " ".join(words)


def own_arguments(cmd):
    return [a for a in cmd.get("arguments", []) if a.get("shouldDisplay", True) and a.get("valueName") != "help"]


def walk(path, cmd, out):
    """Depth-first: every runnable command (a leaf, or a group with options
    of its own, like `panicctl queue`) gets a synopsis line and an entry."""
    subs = [s for s in cmd.get("subcommands", []) if s.get("shouldDisplay", True) and s["commandName"] != "help"]
    if not subs or (len(path) > 1 and own_arguments(cmd)):
        out.append((path, cmd))
    for s in subs:
        walk(path + [s["commandName"]], s, out)


def render(info, section, version, date):
    root = info["command"]
    name = root["commandName"]
    leaves = []
    walk([name], root, leaves)
    o = []
    o.append('.\\" Generated by scripts/manpage.py from `%s --experimental-dump-help`; do not edit.' % name)
    o.append('.TH "%s" "%s" "%s" "panic-gateway %s" "panic-gateway manual"' % (name.upper(), section, date, esc(version)))
    o.append(".SH NAME")
    o.append("%s \\- %s" % (esc(name), esc(root.get("abstract", "").rstrip("."))))
    o.append(".SH SYNOPSIS")
    for i, (path, cmd) in enumerate(leaves):
        if i:
            o.append(".br")
        o.append(synopsis(path, cmd))
    o.append(".SH DESCRIPTION")
    o.append(esc(root.get("abstract", "")))
    if root.get("discussion"):
        o.append(".PP\n" + esc(root["discussion"]))
    default = root.get("defaultSubcommand")
    if default:
        o.append(".PP\nWithout a command, \\fB%s\\fR runs." % esc(default))
    if len(leaves) > 1 or leaves[0][0] != [name]:
        o.append(".SH COMMANDS")
    for path, cmd in leaves:
        if path != [name]:
            o.append('.SS "%s"' % esc(" ".join(path[1:])))
        o.append(esc(cmd.get("abstract", "")))
        if cmd.get("discussion"):
            o.append(".PP\n" + esc(cmd["discussion"]))
        for a in own_arguments(cmd):
            o.append(argument_item(a).rstrip("\n"))
    extra = EXTRA.get(name, {})
    for title, content in extra.items():
        o.append('.SH "%s"' % title)
        if isinstance(content, list):
            for path, text in content:
                o.append(".TP\n" + esc(path) + "\n" + text)
        else:
            o.append(content)
    return "\n".join(o) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--section", default="8")
    p.add_argument("--version", required=True)
    p.add_argument("--date", help="YYYY-MM-DD (default: SOURCE_DATE_EPOCH or today)")
    a = p.parse_args()
    date = a.date
    if not date:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch else datetime.datetime.now(datetime.timezone.utc)
        date = when.strftime("%Y-%m-%d")
    sys.stdout.write(render(json.load(sys.stdin), a.section, a.version, date))


if __name__ == "__main__":
    main()
