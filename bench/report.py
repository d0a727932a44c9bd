#!/usr/bin/env python3
"""Prints bench/load.sh results as a Markdown table, with targets and pass/fail.

Usage: report.py RESULTS [RESULTS ...]

Each RESULTS file holds the `key=value` lines that load.sh writes (BENCH_OUT=FILE). With
several files, each run gets a column and the verdict is taken on the median.

The fixed-rate latencies (p50/p99/p999/svc_p99) come from the tool the `ratetool` key names:
`benchtool rate` (the default; files without the key are from it too) or oha
(RATE_TOOL=oha). Their latencies are not comparable (oha sends in 1 ms bursts; see
load.sh), so the table says so when the files mix the two.
"""

import statistics
import sys


def load(path):
    values = {}
    with open(path) as f:
        for line in f:
            key, sep, value = line.strip().partition("=")
            if sep:
                values[key] = value
    return values


def num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def mib(kb):
    return None if kb is None else kb / 1024


# (label, key or function of a run, unit, format, target text, test of the median)
ROWS = [
    ("machine: CPU time lost by 2 spinning threads, start / end", ("hiccup_lost_pct_start", "hiccup_lost_pct_end"), "%", "{:.1f}", "", None),
    ("machine: longest stall of a spinning thread, start / end", ("hiccup_max_ms_start", "hiccup_max_ms_end"), "ms", "{:.1f}", "", None),
    ("throughput (a) rulehook, small / large", ("rps_a_small", "rps_a_large"), "req/s", "{:.0f}", "", None),
    ("throughput (a0) rulehook --answer-cache 0, small / large", ("rps_a0_small", "rps_a0_large"), "req/s", "{:.0f}", "", None),
    ("throughput (b) limit: bare actix-web, small / large", ("rps_b_small", "rps_b_large"), "req/s", "{:.0f}", "", None),
    ("throughput (d) jsonnet peer, small / large", ("rps_d_small", "rps_d_large"), "req/s", "{:.0f}", "", None),
    ("throughput (c) Python http.server hook, small / large", ("rps_c_small", "rps_c_large"), "req/s", "{:.0f}", "", None),
    ("**throughput (a)/(b), 913-byte request**", "ratio_ab_small", "", "{:.2f}", ">= 0.80", lambda v: v >= 0.80),
    ("**throughput (a)/(b), 3.9 KB request**", "ratio_ab_large", "", "{:.2f}", ">= 0.70", lambda v: v >= 0.70),
    ("**throughput (a)/(d), small / large**", ("ratio_ad_small", "ratio_ad_large"), "x", "{:.1f}", ">= 3x", lambda v: v >= 3),
    ("throughput (a0)/(b), small / large", ("ratio_a0b_small", "ratio_a0b_large"), "", "{:.2f}", "", None),
    ("throughput (a0)/(d), small / large", ("ratio_a0d_small", "ratio_a0d_large"), "x", "{:.1f}", "", None),
    ("throughput (a)/(c), small / large", ("ratio_ac_small", "ratio_ac_large"), "x", "{:.1f}", "", None),
    ("**(a) access-log lines / hook requests**", "log_written_pct_a", "%", "{:.3f}", "100 %", lambda v: v >= 100),
    ("(a) hook requests / lines / dropped", ("log_requests_a", "log_lines_a", "log_dropped_a"), "", "{:.0f}", "", None),
    ("(a0) access-log lines / hook requests", "log_written_pct_a0", "%", "{:.3f}", "", None),
    ("(a) answer cache hits / misses", ("answer_cache_hits_a", "answer_cache_misses_a"), "", "{:.0f}", "", None),
    ("fixed rate for (a) and (b): half of (a)'s max, large", "rate_ab", "req/s", "{:.0f}", "", None),
    ("(a) p50 at that rate", "p50_ms_a", "ms", "{:.3f}", "", None),
    ("**(a) p99 at that rate**", "p99_ms_a", "ms", "{:.3f}", "< 1 ms", lambda v: v < 1),
    ("(a) p99.9 at that rate", "p999_ms_a", "ms", "{:.3f}", "", None),
    ("(a) p99 of the response times alone", "svc_p99_ms_a", "ms", "{:.3f}", "", None),
    ("(b) p50 / p99 at that rate", ("p50_ms_b", "p99_ms_b"), "ms", "{:.3f}", "", None),
    ("fixed rate for (a0): half of (a0)'s max", "rate_a0", "req/s", "{:.0f}", "", None),
    ("(a0) p50 / p99 at that rate", ("p50_ms_a0", "p99_ms_a0"), "ms", "{:.3f}", "", None),
    ("fixed rate for (c): half of (c)'s max", "rate_c", "req/s", "{:.0f}", "", None),
    ("(c) p50 / p99 at that rate", ("p50_ms_c", "p99_ms_c"), "ms", "{:.3f}", "", None),
    ("RSS (a) idle / under load", ("rss_idle_kb_a", "rss_load_kb_a_large"), "MiB", "{:.1f}", "", None),
    ("RSS (b) idle / under load", ("rss_idle_kb_b", "rss_load_kb_b_large"), "MiB", "{:.1f}", "", None),
    ("RSS (c) idle / under load", ("rss_idle_kb_c", "rss_load_kb_c_large"), "MiB", "{:.1f}", "", None),
    ("RSS (d) idle / under load", ("rss_idle_kb_d", "rss_load_kb_d_large"), "MiB", "{:.1f}", "", None),
    ("1,000-Pod request (3 MB) end to end, p50", "e2e_pods_ms", "ms", "{:.1f}", "", None),
    ("serde_json parse of the same body, p50", "parse_pods_ms", "ms", "{:.1f}", "", None),
    ("**1,000-Pod request / pure parse**", "ratio_pods", "x", "{:.2f}", "<= 1.5x", lambda v: v <= 1.5),
    ("same 3 MB POST to the limit server, p50", "e2e_pods_limit_ms", "ms", "{:.1f}", "", None),
    ("fan-out to 1,000 Services end to end, p50", "e2e_fanout_ms", "ms", "{:.1f}", "", None),
    ("**RSS with 100 rules, idle**", "rss100_idle_kb", "MiB", "{:.1f}", "< 20 MiB", lambda v: v < 20),
    ("RSS with 100 rules, hello load", "rss100_load_kb", "MiB", "{:.1f}", "", None),
    ("RSS with 100 rules, 1,000-Pod requests", "rss100_large_kb", "MiB", "{:.1f}", "", None),
    ("**start-up with 100 rules** (median of the runs)", "startup_ms", "ms", "{:.1f}", "< 100 ms", lambda v: v < 100),
    ("**reload** (max of the swaps)", "reload_max_ms", "ms", "{:.0f}", "< 500 ms", lambda v: v < 500),
    ("reload (median of the swaps)", "reload_p50_ms", "ms", "{:.0f}", "", None),
]


def ratio(run, a, b):
    x, y = num(run.get(a)), num(run.get(b))
    return x / y if x is not None and y else None


def value(run, key, unit):
    if callable(key):
        return key(run)
    v = num(run.get(key))
    return mib(v) if unit == "MiB" and v is not None else v


def cell(values, fmt, unit):
    if any(v is None for v in values):
        return "n/a"
    text = " / ".join(fmt.format(v) for v in values)
    if unit == "x":
        return text + "x"
    if unit == "%":
        return text + " %"
    return f"{text} {unit}".strip()


def main(paths):
    runs = [load(p) for p in paths]
    tools = sorted({r.get("ratetool", "benchtool rate") for r in runs})
    if len(tools) > 1:
        print("Note: the latency rows mix tools that are not comparable: " + "; ".join(tools))
        print()
    many = len(runs) > 1
    head = ["figure", "target"]
    if many:
        head += [f"run {i + 1}" for i in range(len(runs))] + ["median"]
    else:
        head += ["measured"]
    head.append("verdict")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for label, key, unit, fmt, target, test in ROWS:
        keys = key if isinstance(key, tuple) else (key,)
        per_run = [[value(r, k, unit) for k in keys] for r in runs]
        medians = []
        for i in range(len(keys)):
            column = [p[i] for p in per_run if p[i] is not None]
            medians.append(statistics.median(column) if column else None)
        cells = [label, target]
        if many:
            cells += [cell(p, fmt, unit) for p in per_run]
        cells.append(cell(medians, fmt, unit))
        verdict = ""
        # A target on several figures (small / large) holds only if it holds for each.
        if test is not None and all(m is not None for m in medians):
            verdict = "pass" if all(test(m) for m in medians) else "**FAIL**"
        cells.append(verdict)
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
