#!/usr/bin/env python3
"""Server CPU per request for every example's fixtures, on the render path: two rulehook
builds side by side, in alternating rounds.

    python3 bench/examples.py BASE_BIN NEW_BIN            # every fixture (~12 min)
    ONLY=hello ROUNDS=1 DURATION=1 python3 bench/examples.py BASE_BIN NEW_BIN
    NEW_FLAGS="--slice-work 100000000" python3 bench/examples.py BIN BIN   # one build, two settings

Each example directory is served on its own (`serve --rules examples/NAME --libraries
examples/lib --workers 2 --log warn`), and each fixture is sent to each rule of the
directory that answers it 200 with both builds. Every body is distinct: an 8-digit counter
is written into the subject's `metadata.resourceVersion`, so the answer cache never
answers. The figure is the server's utime + stime over a wrk run (-t1 -c4), divided by the
requests answered; medians of ROUNDS rounds (default 2) of DURATION seconds (default 2).
NEW_FLAGS are added to the second build's `serve` flags.
Only talks to 127.0.0.1. Needs wrk.
"""

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
NOT_RULES = ("controller.yaml", "crd.yaml", "example.yaml")

# POSTs a body with a counter in it (BENCH_BODY, BENCH_AT, BENCH_FIRST).
POST_LUA = os.path.join(ROOT, "bench", "post.lua")


def cache_hits(port):
    """The answer cache's hits so far, from the server's metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = re.search(r"^rulehook_answer_cache_hits_total (\S+)$", text, re.M)
    if not found:
        sys.exit(f"no rulehook_answer_cache_hits_total in the metrics on port {port}")
    return float(found.group(1))


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def start(binary, rules, port, flags):
    server = subprocess.Popen(
        [binary, "serve", "--rules", rules, "--libraries", os.path.join(EXAMPLES, "lib"),
         "--listen", f"127.0.0.1:{port}", "--workers", "2", "--log", "warn",
         "--memory-limit", "512MiB"] + flags,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except OSError:
            time.sleep(0.05)
    server.kill()
    sys.exit(f"{binary} did not start on {rules}")


def status_of(url, body):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as e:
        return e.code


def cases(work, only):
    """(example, directory, rule names, hook, fixture, body file, counter offset)."""
    for example in sorted(os.listdir(EXAMPLES)):
        directory = os.path.join(EXAMPLES, example)
        if not os.path.isdir(os.path.join(directory, "fixtures")) or (only and example != only):
            continue
        names = []
        for file in sorted(os.listdir(directory)):
            if file.endswith(".yaml") and not file.endswith(".test.yaml") and file not in NOT_RULES:
                found = re.search(r"^name:\s*(\S+)", open(os.path.join(directory, file)).read(), re.M)
                if found:
                    names.append(found.group(1))
        for fixture in sorted(os.listdir(os.path.join(directory, "fixtures"))):
            hook = next((h for h in ("customize", "finalize") if fixture.startswith(h)), "sync")
            request = json.load(open(os.path.join(directory, "fixtures", fixture)))
            subject = "parent" if "parent" in request else "object"
            request[subject].setdefault("metadata", {})["resourceVersion"] = "00000000"
            # Compact, as Metacontroller sends it.
            body = json.dumps(request, separators=(",", ":")).encode()
            marker = b'"resourceVersion":"00000000"'
            at = body.find(marker) + len(marker) - 9 + 1
            path = os.path.join(work, f"{example}-{fixture}")
            open(path, "wb").write(body)
            yield example, directory, names, hook, fixture, path, at


def key_of(name, fixture):
    return f"{name}/{fixture}"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    builds = {"base": os.path.abspath(sys.argv[1]), "new": os.path.abspath(sys.argv[2])}
    flags = {"base": [], "new": os.environ.get("NEW_FLAGS", "").split()}
    rounds = int(os.environ.get("ROUNDS", "2"))
    duration = os.environ.get("DURATION", "2")
    work = tempfile.mkdtemp(prefix="rulehook-examples-")
    port = 18300
    print(f"{'rule/fixture':60} {'base µs':>9} {'new µs':>9} {'new/base':>8}")
    for _, directory, names, hook, fixture, path, at in cases(work, os.environ.get("ONLY")):
        body = open(path, "rb").read()
        for name in names:
            cpu = {"base": [], "new": []}
            answered = True
            for round_ in range(rounds):
                for which, binary in builds.items():
                    port += 1
                    server = start(binary, directory, port, flags[which])
                    url = f"http://127.0.0.1:{port}/{name}/{hook}"
                    try:
                        if status_of(url, body) != 200:
                            answered = False
                            break
                        # Counters never repeat across runs, so no body is seen twice.
                        first = (round_ * 2 + (which == "new")) * 10_000_000
                        env = dict(os.environ, BENCH_BODY=path, BENCH_AT=str(at), BENCH_FIRST=str(first))
                        subprocess.run(["wrk", "-t1", "-c4", "-d1", "-s", POST_LUA, url], env=env, capture_output=True)
                        env["BENCH_FIRST"] = str(first + 5_000_000)
                        before = cpu_ticks(server.pid)
                        out = subprocess.run(["wrk", "-t1", "-c4", f"-d{duration}", "-s", POST_LUA, url],
                                             env=env, capture_output=True, text=True).stdout
                        time.sleep(0.2)
                        after = cpu_ticks(server.pid)
                        # The figure is the render path's: a run the cache answered is void.
                        if cache_hits(port):
                            sys.exit(f"{binary} answered {key_of(name, fixture)} from its cache")
                    finally:
                        server.kill()
                        server.wait()
                    if "Non-2xx" in out:
                        answered = False
                        break
                    requests = int(re.search(r"(\d+) requests in", out).group(1))
                    # Clock ticks are 10 ms.
                    cpu[which].append((after - before) * 10_000 / requests)
                if not answered:
                    break
            key = key_of(name, fixture)
            if answered:
                base, new = statistics.median(cpu["base"]), statistics.median(cpu["new"])
                print(f"{key:60} {base:9.1f} {new:9.1f} {new / base:8.3f}", flush=True)
            else:
                print(f"{key:60} not answered 200 by both builds: skipped", flush=True)


if __name__ == "__main__":
    main()
