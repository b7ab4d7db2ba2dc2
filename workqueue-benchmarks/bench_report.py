#!/usr/bin/env python3
"""Turns the JSON of a JMH run of the engine's benchmarks (-rf json) into Markdown tables.

    python3 workqueue-benchmarks/bench_report.py target/jmh.json > report.md

Throughput (ThroughputBenchmark): backend x producers, ops/s +- error, % of ForkJoinPool's.
Hot path (HotPathBenchmark): backend x cpuAccounting, ops/s +- error.
Tracepoints (TracepointBenchmark): backend x JFR recording of the four events off/on, ops/s +- error.
Latency (LatencyBenchmark): backend x load, queue-to-start p50 / p99 / p99.9 and samples.
CpuLookupBenchmark, if present: ns/op per method.
"""
import json
import math
import sys

BACKENDS = ["cmwq-bound", "cmwq-unbound", "cmwq-unbound-cpu-strict", "cmwq-executor", "fjp-common", "tpe-fixed", "virtual"]


def order(name):
    return BACKENDS.index(name) if name in BACKENDS else len(BACKENDS)


def num(x):
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def fmt(x, digits=0):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def score_err(pm, digits=0):
    s, e = num(pm["score"]), num(pm.get("scoreError"))
    return fmt(s, digits) + ("" if e is None else " ± " + fmt(e, digits))


def bench_of(r):
    cls, method = r["benchmark"].rsplit(".", 2)[-2:]
    return cls, method


def on_off_table(rows, title, param, label, base, base_label, first):
    """backend x one parameter's values, ops/s +- error and % of the base value's score per backend."""
    if not rows:
        return []
    unit = rows[0]["primaryMetric"]["scoreUnit"]
    out = [f"### {title}\n", f"| backend | {label} | {unit} | % of {base_label} |", "|---|---|---:|---:|"]
    base_score = {r["params"]["backend"]: num(r["primaryMetric"]["score"]) for r in rows if r["params"].get(param) == base}
    for r in sorted(rows, key=lambda r: (order(r["params"]["backend"]), r["params"].get(param) != first)):
        b, s = r["params"]["backend"], num(r["primaryMetric"]["score"])
        pct = f"{100 * s / base_score[b]:.0f} %" if base_score.get(b) and s is not None else "n/a"
        out.append(f"| {b} | {r['params'].get(param)} | {score_err(r['primaryMetric'])} | {pct} |")
    out.append("")
    return out


def main(path):
    with open(path) as f:
        runs = json.load(f)
    out = []
    meta = runs[0] if runs else {}
    if meta:
        out.append(f"JDK {meta.get('jdkVersion')} ({meta.get('vmName')} {meta.get('vmVersion')}), "
                   f"forks {meta.get('forks')}, warm-up {meta.get('warmupIterations')} x {meta.get('warmupTime')}, "
                   f"measurement {meta.get('measurementIterations')} x {meta.get('measurementTime')}.\n")

    thr = [r for r in runs if bench_of(r)[0] == "ThroughputBenchmark"]
    if thr:
        unit = thr[0]["primaryMetric"]["scoreUnit"]
        fjp = {r["threads"]: num(r["primaryMetric"]["score"]) for r in thr if r["params"]["backend"] == "fjp-common"}
        tpe = {r["threads"]: num(r["primaryMetric"]["score"]) for r in thr if r["params"]["backend"] == "tpe-fixed"}
        out.append("### Tiny-item throughput (queue and run a no-op item)\n")
        out.append(f"| backend | producers | {unit} | % of ForkJoinPool | vs fixed TPE |")
        out.append("|---|---:|---:|---:|---|")
        for r in sorted(thr, key=lambda r: (r["threads"], order(r["params"]["backend"]))):
            s, t = num(r["primaryMetric"]["score"]), r["threads"]
            pct = f"{100 * s / fjp[t]:.0f} %" if fjp.get(t) and s is not None else "n/a"
            below = ("**below**" if r["params"]["backend"].startswith("cmwq") and tpe.get(t) and s is not None
                     and s < tpe[t] else "")
            out.append(f"| {r['params']['backend']} | {t} | {score_err(r['primaryMetric'])} | {pct} | {below} |")
        out.append("")

    out += on_off_table([r for r in runs if bench_of(r)[0] == "HotPathBenchmark"],
                        "Hot-path extras: CPU accounting (no JFR recording active)",
                        "cpuAccounting", "cpuAccounting", base="false", base_label="accounting off", first="true")
    out += on_off_table([r for r in runs if bench_of(r)[0] == "TracepointBenchmark"],
                        "Hot-path extras: the tracepoints (JFR events) recorded",
                        "recording", "JFR recording of the cmwq events", base="off", base_label="no recording", first="off")

    lat = [r for r in runs if bench_of(r)[0] == "LatencyBenchmark"]
    if lat:
        unit = lat[0]["primaryMetric"]["scoreUnit"]
        out.append(f"### Queue-to-start latency ({unit})\n")
        out.append("| backend | load | p50 | p99 | p99.9 | mean | samples |")
        out.append("|---|---|---:|---:|---:|---:|---:|")
        loads = ["light", "heavy"]
        for r in sorted(lat, key=lambda r: (loads.index(r["params"]["load"]) if r["params"]["load"] in loads else 9,
                                            order(r["params"]["backend"]))):
            pm = r["primaryMetric"]
            p = pm.get("scorePercentiles", {})
            n = sum(c for it in pm.get("rawDataHistogram", []) for hist in it for _, c in hist) or "n/a"
            out.append(f"| {r['params']['backend']} | {r['params']['load']} | {fmt(num(p.get('50.0')), 1)} | "
                       f"{fmt(num(p.get('99.0')), 1)} | {fmt(num(p.get('99.9')), 1)} | {fmt(num(pm['score']), 1)} | {n} |")
        out.append("")

    cpu = [r for r in runs if bench_of(r)[0] == "CpuLookupBenchmark"]
    if cpu:
        out.append("### Which CPU is the issuer on\n")
        out.append(f"| benchmark | {cpu[0]['primaryMetric']['scoreUnit']} |")
        out.append("|---|---:|")
        for r in cpu:
            out.append(f"| {bench_of(r)[1]} | {score_err(r['primaryMetric'], 2)} |")
        out.append("")

    if len(out) <= 1:
        sys.exit(f"{path}: no results of the engine's benchmarks")
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
