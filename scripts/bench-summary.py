#!/usr/bin/env python3
"""Gathers every benchmark report (target/bench/<bench>.json, written by
loop_platform::bench::report) into one summary: target/bench/summary.md and
target/bench/summary.json, each figure beside its same-run baseline.

Usage: scripts/bench-summary.py [--dir target/bench]
"""
import argparse
import datetime
import json
import os
import sys


def fmt(v):
    if v is None:
        return ""
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=os.path.join(os.path.dirname(__file__), "..", "target", "bench"))
    args = parser.parse_args()
    reports = []
    for name in sorted(os.listdir(args.dir)) if os.path.isdir(args.dir) else []:
        if not name.endswith(".json") or name.startswith("summary"):
            continue
        with open(os.path.join(args.dir, name)) as f:
            doc = json.load(f)
        if "figures" in doc:
            reports.append(doc)
    if not reports:
        sys.exit(f"no benchmark reports in {args.dir}: run `make bench`")
    lines = [
        "# Loop benchmarks",
        "",
        f"Summary written {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}; "
        "each figure beside the baseline measured in the same run (ratios are what to compare on a noisy machine).",
    ]
    try:
        with open("/proc/loadavg") as f:
            lines.append(f"Load average when summarised: {' '.join(f.read().split()[:3])}.")
    except OSError:
        pass
    unmet = []
    for r in reports:
        lines += ["", f"## {r['bench']} ({r.get('finished_at', '?')})", "", r.get("setup", ""), "",
                  "| figure | value | baseline (same run) | ratio | target |", "|---|---|---|---|---|"]
        for fig in r["figures"]:
            met = {True: " (met)", False: " (NOT met)"}.get(fig.get("met"), "")
            if fig.get("met") is False:
                unmet.append(f"{r['bench']}: {fig['figure']}")
            baseline = f"{fig['baseline']}: {fmt(fig['baseline_value'])} {fig['unit']}" if fig.get("baseline") else ""
            ratio = f"{fig['ratio']:.2f}x" if fig.get("ratio") is not None else ""
            lines.append(f"| {fig['figure']} | {fmt(fig['value'])} {fig['unit']} | {baseline} | {ratio} | {fig.get('target') or ''}{met} |")
    lines += ["", "Targets not met: " + ("; ".join(unmet) if unmet else "none") + "."]
    with open(os.path.join(args.dir, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(args.dir, "summary.json"), "w") as f:
        json.dump({"reports": reports, "targets_not_met": unmet}, f, indent=2)
    print("\n".join(lines))
    print(f"\nwrote {os.path.join(args.dir, 'summary.md')} and summary.json", file=sys.stderr)


if __name__ == "__main__":
    main()
