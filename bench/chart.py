#!/usr/bin/env python3
"""Draws benchmark results as an SVG bar chart, with no dependencies.

One group of bars per scenario, one bar per server (or client), each the
median of the rounds. Scenarios have different units, and for some lower is
better (seconds, KiB), so every bar is drawn relative to the best result of
its group: the best bar is full length and reads 1.00, the others show
how far behind the best they are (0.50 = half as good). The measured
median and unit are printed beside each bar, so nothing is lost.

    python3 bench/chart.py RESULTS.json [OUT.svg]

reads what `bench/compare.py --json RESULTS.json` wrote; compare.py also
calls `svg()` itself when it writes bench/RESULTS.md.
"""

import json
import sys
from html import escape

# Scenario key -> (title, unit, higher is better), for charts drawn from a
# JSON file, which holds only the measurements.
KNOWN = {
    "sendfile": ("raw loopback sendfile limit", "MiB/s", True),
    "retr": ("RETR, curl", "MiB/s", True),
    "retr-lftp": ("RETR, lftp", "MiB/s", True),
    "retr-ftpload": ("RETR, ftpload", "MiB/s", True),
    "stor": ("STOR, lftp", "MiB/s", True),
    "stor-curl": ("STOR, curl", "MiB/s", True),
    "stor-ftpload": ("STOR, ftpload", "MiB/s", True),
    "small": ("small-file RETR, ftplib", "files/s", True),
    "concurrent": ("concurrent 1 MiB fetches, time to serve all", "s", False),
    "burst": ("a larger burst of 1 MiB fetches, time to serve all", "s", False),
    "idle": ("idle logged-in sessions, RSS per session", "KiB", False),
    "get": ("get from serv into a file", "MiB/s", True),
    "put": ("put to serv from a file", "MiB/s", True),
}

COLOURS = {
    "serv": "#1f77b4",
    "vsftpd": "#ff7f0e",
    "pyftpdlib": "#2ca02c",
    "serv@base": "#9467bd",
    "cli": "#1f77b4",
    "curl": "#d62728",
    "lftp": "#8c564b",
    "rclone": "#7f7f7f",
}

BAR_H, GAP, LABEL_W, BAR_W, VALUE_W = 16, 4, 110, 420, 170


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def relative(value, best, higher):
    """How good `value` is against the group's best, in (0, 1]."""
    if value is None or best is None or value <= 0 or best <= 0:
        return None
    return value / best if higher else best / value


def svg(groups, title):
    """`groups`: [(scenario title, unit, higher, [(column, median or None)])]."""
    width = LABEL_W + BAR_W + VALUE_W + 20
    y = 40
    parts = []
    for name, unit, higher, bars in groups:
        known = [v for _, v in bars if v is not None]
        best = (max(known) if higher else min(known)) if known else None
        parts.append('<text x="10" y="%d" font-weight="bold">%s (%s, %s is better)</text>'
                     % (y + 12, escape(name), escape(unit), "higher" if higher else "lower"))
        y += 20
        for column, value in bars:
            rel = relative(value, best, higher)
            colour = COLOURS.get(column, "#555")
            parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                         % (LABEL_W - 6, y + BAR_H - 4, escape(column)))
            if rel is None:
                parts.append('<text x="%d" y="%d" fill="#a00">failed or not run</text>'
                             % (LABEL_W, y + BAR_H - 4))
            else:
                parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>'
                             % (LABEL_W, y, rel * BAR_W, BAR_H, colour))
                parts.append('<text x="%d" y="%d">%.2f  (%s %s)</text>'
                             % (LABEL_W + BAR_W + 6, y + BAR_H - 4, rel, fmt(value), escape(unit)))
            y += BAR_H + GAP
        y += 12
    head = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'font-family="sans-serif" font-size="12">' % (width, y + 10))
    caption = ('<text x="10" y="20" font-size="14" font-weight="bold">%s</text>'
               '<text x="10" y="34" font-size="10" fill="#555">bars relative to the best of each '
               'group (1.00 = best); medians in brackets</text>' % escape(title))
    background = '<rect width="100%" height="100%" fill="white"/>'
    return "\n".join([head, background, caption] + parts + ["</svg>"]) + "\n"


def fmt(x):
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


def groups_from_json(rows):
    """compare.py's --json output ({"key/column": [rounds]}) as chart groups."""
    by_key = {}
    for name, rounds in rows.items():
        key, column = name.split("/", 1)
        by_key.setdefault(key, []).append((column, median(r.get("value") for r in rounds)))
    groups = []
    for key, bars in by_key.items():
        title, unit, higher = KNOWN.get(key, (key, "", True))
        groups.append((title, unit, higher, bars))
    return groups


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        rows = json.load(f)
    out = sys.argv[2] if len(sys.argv) == 3 else "bench/results.svg"
    with open(out, "w") as f:
        f.write(svg(groups_from_json(rows), "serv and its peers side by side"))
    print("wrote %s" % out)


if __name__ == "__main__":
    main()
