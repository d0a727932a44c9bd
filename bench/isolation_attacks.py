#!/usr/bin/env python3
"""The hostile side of bench/isolation.sh: the worst inputs, sent while oha measures a
steady stream of hello requests. Only loopback; every loop is bounded in count and time.

Usage: isolation_attacks.py ADDR SCENARIO SECONDS
Scenarios:
  amplify   4 at once, repeatedly: a 1.15 MB globalconfigmap request (1 MB source, 1,500
            Namespaces) whose answer would be 1.5 GB. Prints each call's status and time.
  slowbody  500 connections, from four peers, that send headers and `{` of a 100-byte body,
            then nothing.
  heavy     2 at once, repeatedly: renders that run until the render timeout. Also probes
            /healthz every 20 ms and prints the slowest answer.
  noread    200 clients, from four peers, that ask for a 15 MB answer and never read it.
  pipeline  16 connections, each pipelining 200,000 `GET /healthz` (half of them 404s
            instead) and reading nothing. Prints the bytes sent and the connections the
            server closed.
  holders   4,200 connections from 127.0.0.2 that never finish their headers, each reopened
            as soon as the server closes it. Probes /healthz every 100 ms (on PROBE_ADDR
            too, when given) and prints the slowest answers.
  idle      1,500 connections from 127.0.0.2 that send nothing; probes as for holders.
  regex     4 at once, repeatedly: 600 matches of request-supplied patterns (10 distinct ones,
            new in every request) against a 30 KB subject: milliseconds of PikeVM work each.
            Also probes /healthz every 20 ms.
  patterns  4 at once, repeatedly: 300 distinct request-supplied patterns, half of which
            compiled near the old 1 MiB size cap.
Prints one JSON object on its last line.
"""

import json
import os
import selectors
import socket
import sys
import threading
import time


def request_bytes(path, body):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def call(addr, path, body, timeout=30):
    """One request on a new connection; returns (status, seconds)."""
    started = time.monotonic()
    host, port = addr.split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(request_bytes(path, body))
        raw = b""
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            raw += chunk
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
    return status, time.monotonic() - started


def amplification_body():
    namespaces = {
        f"ns-{i:04}": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns-{i:04}"}}
        for i in range(1500)
    }
    source = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "big", "namespace": "global"},
        "data": {"blob": "x" * (1 << 20)},
    }
    request = {
        "controller": {},
        "parent": {
            "apiVersion": "examples.metacontroller.io/v1alpha1",
            "kind": "GlobalConfigMap",
            "metadata": {"name": "big"},
            "spec": {"sourceName": "big", "sourceNamespace": "global"},
        },
        "children": {"ConfigMap.v1": {}},
        "related": {"ConfigMap.v1": {"global/big": source}, "Namespace.v1": namespaces},
        "finalizing": False,
    }
    return json.dumps(request).encode()


def in_parallel(n, work):
    results = [None] * n

    def run(i):
        try:
            results[i] = work()
        except OSError as e:
            results[i] = (0, repr(e))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def amplify(addr, seconds):
    body = amplification_body()
    calls = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        calls += in_parallel(4, lambda: call(addr, "/globalconfigmap/sync", body))
    statuses = sorted({c[0] for c in calls})
    slowest = max(c[1] for c in calls if isinstance(c[1], float))
    return {"calls": len(calls), "request_bytes": len(body), "statuses": statuses,
            "slowest_s": round(slowest, 3)}


def attacker_address(i):
    """127.0.0.2 to 127.0.0.5 in turn: four attacking peers, none of them the stream's
    127.0.0.1, each under the per-peer share of connections, so a phase measures its own
    bound and not that one."""
    return (f"127.0.0.{2 + i % 4}", 0)


def slowbody(addr, seconds):
    host, port = addr.split(":")
    held, answered = [], {}
    for i in range(500):
        s = socket.create_connection((host, int(port)), timeout=30,
                                     source_address=attacker_address(i))
        s.sendall(b"POST /hello/sync HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 100\r\n\r\n{")
        held.append(s)
    time.sleep(seconds)
    for s in held:
        s.settimeout(15)
        try:
            raw = s.recv(256)
            status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
        except OSError:
            status = 0
        answered[status] = answered.get(status, 0) + 1
        s.close()
    return {"connections": len(held), "statuses": answered}


def heavy(addr, seconds):
    body = json.dumps({"parent": {"spec": {"n": 20000}}}).encode()
    stop = time.monotonic() + seconds
    probes = []
    done = threading.Event()
    probing = threading.Thread(target=prober, args=(addr, done, probes, 0.02))
    probing.start()
    calls = []
    while time.monotonic() < stop:
        calls += in_parallel(2, lambda: call(addr, "/heavy/sync", body))
    done.set()
    probing.join()
    return {"calls": len(calls), "statuses": sorted({c[0] for c in calls}),
            "slowest_s": round(max(c[1] for c in calls if isinstance(c[1], float)), 3),
            "probes": len(probes), "probe_failures": sum(1 for ok, _ in probes if not ok),
            "probe_max_ms": round(1000 * max(t for _, t in probes), 2)}


def noread(addr, seconds):
    host, port = addr.split(":")
    body = json.dumps({"parent": {"spec": {"n": 1500, "text": "t" * 10000}}}).encode()
    held = []
    for i in range(200):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(30)
        s.bind(attacker_address(i))
        s.connect((host, int(port)))
        s.sendall(request_bytes("/big/sync", body))
        held.append(s)
    time.sleep(seconds)
    for s in held:
        s.close()
    return {"clients": len(held)}


def pipeline(addr, seconds, requests=200_000):
    host, port = addr.split(":")
    connections = int(os.environ.get("CONNECTIONS", "16"))
    held = []
    for i in range(connections):
        path = "/healthz" if i % 2 == 0 else "/no-such-page"
        payload = (f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()) * requests
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((host, int(port)))
        s.setblocking(False)
        held.append({"socket": s, "payload": memoryview(payload), "sent": 0, "closed": False})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        progressed = False
        for c in held:
            if c["closed"] or c["sent"] >= len(c["payload"]):
                continue
            try:
                n = c["socket"].send(c["payload"][c["sent"]:c["sent"] + 65536])
                c["sent"] += n
                progressed = True
            except BlockingIOError:
                pass
            except OSError:
                c["closed"] = True
        if not progressed:
            time.sleep(0.02)
    for c in held:
        c["socket"].close()
    return {"connections": connections, "sent_mb": round(sum(c["sent"] for c in held) / 1e6, 1),
            "closed_by_server": sum(c["closed"] for c in held)}


def prober(addr, stop, times, every=0.1):
    """/healthz on a new connection every `every` seconds until the event `stop` is set;
    (ok, seconds) into `times`."""
    host, port = addr.split(":")
    while not stop.is_set():
        started = time.monotonic()
        try:
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                ok = s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            ok = False
        times.append((ok, time.monotonic() - started))
        stop.wait(every)


def hold(addr, seconds, count, head):
    """`count` connections from 127.0.0.2 that send `head` and then nothing, each reopened
    when the server closes it; probes /healthz meanwhile."""
    host, port = addr.split(":")
    selector = selectors.DefaultSelector()
    opened = closed = 0

    def open_one():
        nonlocal opened
        s = socket.socket()
        s.setblocking(False)
        s.bind(("127.0.0.2", 0))
        s.connect_ex((host, int(port)))
        selector.register(s, selectors.EVENT_WRITE, "connecting")
        opened += 1

    for _ in range(count):
        open_one()
    stop = threading.Event()
    probes, probe_port = [], []
    threads = [threading.Thread(target=prober, args=(addr, stop, probes))]
    if os.environ.get("PROBE_ADDR"):
        threads.append(threading.Thread(target=prober, args=(os.environ["PROBE_ADDR"], stop, probe_port)))
    for t in threads:
        t.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.1):
            s = key.fileobj
            if key.data == "connecting":
                try:
                    if head:
                        s.send(head)
                    selector.modify(s, selectors.EVENT_READ, "held")
                    continue
                except OSError:
                    pass
            # Readable: the server answered (408) or closed it. Reopen.
            selector.unregister(s)
            s.close()
            closed += 1
            open_one()
    stop.set()
    for t in threads:
        t.join()
    for key in list(selector.get_map().values()):
        key.fileobj.close()

    def summary(times):
        if not times:
            return {}
        slow = sorted(t for _, t in times)
        return {"probes": len(times), "failures": sum(1 for ok, _ in times if not ok),
                "p50_ms": round(1000 * slow[len(slow) // 2], 1),
                "max_ms": round(1000 * slow[-1], 1)}

    return {"opened": opened, "closed_by_server": closed, "healthz": summary(probes),
            "probe_port": summary(probe_port)}


def holders(addr, seconds):
    return hold(addr, seconds, 4200, b"GET /healthz HTTP/1.1\r\nHost: bench\r\n")


def idle(addr, seconds):
    return hold(addr, seconds, 1500, b"")


def matcher_body(salt, subject, patterns):
    return json.dumps({"parent": {"metadata": {"name": f"m{salt}"},
                                  "spec": {"subject": subject, "patterns": patterns}}}).encode()


def repeatedly(addr, seconds, body_for, probe=False):
    """4 clients sending body_for(n) for the n-th request until the time is up."""
    stop = time.monotonic() + seconds
    probes, calls, lock = [], [], threading.Lock()
    counter = iter(range(1 << 40))

    def client():
        while time.monotonic() < stop:
            with lock:
                n = next(counter)
            try:
                result = call(addr, "/matcher/sync", body_for(n))
            except OSError as e:
                result = (0, repr(e))
            with lock:
                calls.append(result)

    threads = [threading.Thread(target=client) for _ in range(4)]
    done = threading.Event()
    if probe:
        threads.append(threading.Thread(target=prober, args=(addr, done, probes, 0.02)))
    for t in threads:
        t.start()
    for t in threads[:4]:
        t.join()
    done.set()
    for t in threads[4:]:
        t.join()
    result = {"calls": len(calls), "statuses": sorted({c[0] for c in calls})}
    if probes:
        times = sorted(t for _, t in probes)
        result.update({"probes": len(probes),
                       "probe_failures": sum(1 for ok, _ in probes if not ok),
                       "probe_p99_ms": round(1000 * times[len(times) * 99 // 100], 2),
                       "probe_max_ms": round(1000 * times[-1], 2)})
    return result


def regex(addr, seconds):
    subject = "".join("1" if i % 3 == 0 else "0" for i in range(30000))
    return repeatedly(addr, seconds, lambda n: matcher_body(
        n, subject, [f"[01]*1[01]{{{10 + i % 10}}}|z{n}q{i % 10}" for i in range(600)]),
        probe=True)


def patterns(addr, seconds):
    def body(n):
        listed = [rf"\w{{12}}[a-z]{{{i % 50}}}|z{n}q{i}" if i % 2 == 0
                  else f"^[a-z]{{{1 + i % 40}}}[0-9]+$|z{n}q{i}" for i in range(300)]
        return matcher_body(n, "abc", listed)
    return repeatedly(addr, seconds, body)


def main():
    addr, scenario, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    result = {"amplify": amplify, "slowbody": slowbody, "heavy": heavy, "noread": noread,
              "pipeline": pipeline, "holders": holders, "idle": idle,
              "regex": regex, "patterns": patterns}[scenario](addr, seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
