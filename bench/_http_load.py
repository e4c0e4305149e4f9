"""Shared harness for the webhook benchmark (bench/webhooks.py, NetCash and Stripe).

`serve()` runs the app under gunicorn on 127.0.0.1 and waits for /health/; `post_batches()` posts
request batches from separate client processes (this file run as a script, so the load generator
never shares the server's Python); `latency_summary()` turns the results into the printed figures.
Imports no Django.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A request is [path, body, headers].
Request = list


@contextmanager
def serve(*, port: int, workers: int, env: dict, threads: int = 1):
    cmd = [str(ROOT / ".venv/bin/gunicorn"), "circletel.wsgi", "-w", str(workers), "-b", f"127.0.0.1:{port}",
           "--log-level", "warning", "--backlog", "2048"]
    if threads > 1:
        cmd += ["--threads", str(threads), "-k", "gthread"]
    server = subprocess.Popen(cmd, cwd=str(ROOT), env=env)
    try:
        for _ in range(100):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health/")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.2)
        else:
            sys.exit("gunicorn did not start")
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def post_batches(batches: list[tuple[list[Request], int]], *, port: int) -> tuple[list, float]:
    """Post each (requests, concurrency) batch from its own process, all at once; returns
    ([(status, seconds)...], wall seconds)."""
    procs = []
    start = time.perf_counter()
    for requests, concurrency in batches:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(requests, fh)
        cfg = json.dumps({"requests": fh.name, "port": port, "concurrency": concurrency})
        procs.append(subprocess.Popen([sys.executable, __file__, cfg], stdout=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            sys.exit("a load client failed")
        results += json.loads(out)
    return results, time.perf_counter() - start


def latency_summary(results: list, wall: float) -> dict:
    latencies = sorted(seconds for _, seconds in results)
    statuses: dict = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    ok = statuses.get(200, 0)
    return {"ok": ok, "statuses": statuses, "rate": ok / wall, "wall": wall, "p50": pct(0.50), "p99": pct(0.99),
            "max": latencies[-1] * 1000}


def print_summary(s: dict) -> None:
    print(f"accepted (200): {s['ok']}  statuses: {s['statuses']}")
    print(f"throughput: {s['rate']:.0f} accepted/s over {s['wall']:.1f}s")
    print(f"latency: p50 {s['p50']:.1f} ms  p99 {s['p99']:.1f} ms  max {s['max']:.1f} ms")


def _client(cfg_json: str) -> None:
    cfg = json.loads(cfg_json)
    requests = json.loads(Path(cfg["requests"]).read_text())

    def post(request):
        path, body, headers = request
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", cfg["port"], timeout=30)
        try:
            conn.request("POST", path, body=body.encode(), headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
        except OSError:
            status = 0
        finally:
            conn.close()
        return status, time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=cfg["concurrency"]) as pool:
        print(json.dumps(list(pool.map(post, requests))))


if __name__ == "__main__":
    _client(sys.argv[1])
