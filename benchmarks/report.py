"""Turn a pytest-benchmark JSON file into the Markdown tables of docs/benchmarks.md.

Usage: ``python benchmarks/report.py results/bench.json > results/bench.md``
(``make bench`` runs every benchmark and then this script).

Each group is one comparison run in the same process: the reference row is ours (the test
parameter starting with ``ours``, else ``resunet3d``/``make_phantom``), and the last column
gives every row's median time divided by the reference's median (peer / ours, so > 1 means
ours is faster).
"""
from __future__ import annotations

import json
import re
import sys
from collections import defaultdict

_REFERENCE = re.compile(r"\[(ours[^\]]*|resunet3d|make_phantom|small-ours|default-ours)\]")


def _param(name: str) -> str:
    m = re.search(r"\[(.*)\]", name)
    return m.group(1) if m else name


def report(data: dict) -> str:
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {})
    lines = [
        f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} logical CPUs, "
        f"{machine.get('machine', '?')}, Python {machine.get('python_version', '?')}; "
        f"commit {data.get('commit_info', {}).get('id', '?')[:8]}; {data.get('datetime', '')[:19]} UTC.",
        "",
    ]
    groups: dict[str, list] = defaultdict(list)
    for b in data["benchmarks"]:
        groups[b["group"] or b["name"]].append(b)
    for group, rows in groups.items():
        rows.sort(key=lambda b: b["stats"]["median"])
        ref = next((b for b in rows if _REFERENCE.search(b["name"])), None)
        lines += [f"**{group}**", "", "| case | median | min | rounds | / ours |", "|---|---:|---:|---:|---:|"]
        for b in rows:
            s = b["stats"]
            ratio = f"{s['median'] / ref['stats']['median']:.2f}x" if ref is not None else "-"
            lines.append(
                f"| {_param(b['name'])} | {s['median'] * 1e3:.1f} ms | {s['min'] * 1e3:.1f} ms | "
                f"{s['rounds']} | {ratio} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python benchmarks/report.py BENCH.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        sys.stdout.write(report(json.load(fh)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
