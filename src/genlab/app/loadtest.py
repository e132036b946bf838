"""A load test of ``genlab serve``: concurrent clients against a server on 127.0.0.1 for a bounded time.

    python -m genlab.app.loadtest RUN [RUN ...] [--seconds 30] [--clients 8] [--json] [-- SERVE OPTIONS]

It starts ``genlab serve`` on a free local port, runs ``--clients`` threads that each send a mix of
requests (generations of every served model, file downloads, model listings, and requests the
server must refuse: too many samples, an unknown field, an unknown model) until the time is up,
stops the server, and reports requests per second, latency percentiles, and the answers by
status. Every answer is checked: no 5xx; JSON where JSON is due, with the fields it should have;
each refusal with its expected 4xx; each 503 with ``Retry-After``. The clients use the standard library only.
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

# what each kind of request is, how often it is sent, and the statuses it may get
MIX = (("generate", 0.45), ("file", 0.15), ("models", 0.15), ("too_many", 0.1), ("unknown_field", 0.1),
       ("unknown_model", 0.05))
EXPECTED = {"generate": {200, 503}, "file": {200}, "models": {200}, "too_many": {413}, "unknown_field": {422},
            "unknown_model": {404}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(runs: list[str | Path], serve_args: list[str] = (), timeout_s: float = 120.0
                 ) -> tuple[subprocess.Popen, str]:
    """``genlab serve RUNS`` on 127.0.0.1 and a free port, once it answers; ``(process, base URL)``."""
    port = free_port()
    command = [sys.executable, "-m", "genlab.app.cli", "serve", *map(str, runs), "--host", "127.0.0.1",
               "--port", str(port), *serve_args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"genlab serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/api/health", timeout=2):
                return proc, base
        except urllib.error.HTTPError:  # it answers (a 401 where a token is needed): it is up
            return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"genlab serve did not answer within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen) -> str:
    """Stop the server; its stderr."""
    proc.terminate()
    try:
        return proc.communicate(timeout=20)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[1]


def call(base: str, method: str, path: str, body: dict | None = None, token: str | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=300) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def check_answer(kind: str, status: int, headers: dict[str, str], content: bytes) -> str | None:
    """What is wrong with an answer, or None."""
    if status >= 500 and status != 503:
        return f"{kind}: {status} {content[:200]!r}"
    if status not in EXPECTED[kind]:
        return f"{kind}: status {status}, expected {sorted(EXPECTED[kind])}: {content[:200]!r}"
    if kind == "file":
        return None if content else "file: empty"
    try:
        body = json.loads(content)
    except ValueError:
        return f"{kind}: not JSON: {content[:200]!r}"
    if status != 200:
        if set(body) != {"error", "field"} or not body["error"]:
            return f"{kind}: a {status} without an error message: {body}"
        if status == 503 and not headers.get("retry-after", headers.get("Retry-After", "")).isdigit():
            return "503 without Retry-After"
        return None
    if kind == "generate" and not (body.get("files") and body.get("provenance", {}).get("synthetic")):
        return f"generate: no files or provenance: {body}"
    if kind == "models" and not body.get("models"):
        return "models: empty"
    return None


def run_load(base: str, seconds: float = 30.0, clients: int = 8, seed: int = 0, token: str | None = None
             ) -> dict[str, Any]:
    """``clients`` threads sending the request mix to ``base`` for ``seconds``; the figures and any problems."""
    status, _, content = call(base, "GET", "/api/models", token=token)
    info = json.loads(content)
    models, max_samples = info["models"], info["limits"]["max_samples"]
    generating = [m for m in models if "generate" in m["tasks"]]
    kinds, weights = zip(*MIX)
    lock = threading.Lock()
    results: list[tuple[str, int, float]] = []
    problems: list[str] = []
    files: list[str] = []
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while time.monotonic() < stop_at:
            kind = rng.choices(kinds, weights)[0]
            m = rng.choice(generating)
            if kind == "file" and not files:
                kind = "models"
            if kind == "generate":
                body: dict[str, Any] = {"num": rng.randint(1, max_samples), "seed": rng.randrange(1000)}
                if "max_new_tokens" in m["sample_args"]:
                    body["max_new_tokens"] = rng.randint(8, 64)
                request = ("POST", f"/api/models/{m['id']}/generate", body)
            elif kind == "file":
                with lock:
                    request = ("GET", rng.choice(files), None)
            elif kind == "models":
                request = ("GET", "/api/models", None)
            elif kind == "too_many":
                request = ("POST", f"/api/models/{m['id']}/generate", {"num": max_samples + 1})
            elif kind == "unknown_field":
                request = ("POST", f"/api/models/{m['id']}/generate", {"samples": 2})
            else:
                request = ("POST", "/api/models/no-such-model/generate", {})
            start = time.monotonic()
            status, headers, content = call(base, *request, token=token)
            elapsed = time.monotonic() - start
            problem = check_answer(kind, status, headers, content)
            with lock:
                results.append((kind, status, elapsed))
                if problem:
                    problems.append(problem)
                if kind == "generate" and status == 200:
                    files.extend(f["url"] for f in json.loads(content)["files"])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - started
    return summarise(results, problems, wall, clients)


def percentiles(values: list[float]) -> dict[str, float | None]:
    """The 50th, 95th and 99th percentiles of ``values`` (seconds) in milliseconds, interpolated linearly
    between the closest ranks (numpy's default); None for no values."""
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    import numpy as np

    p50, p95, p99 = np.percentile(np.asarray(values) * 1000, [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


def summarise(results: list[tuple[str, int, float]], problems: list[str], wall: float, clients: int) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    for _, status, _ in results:
        by_status[str(status)] = by_status.get(str(status), 0) + 1
    done = [r for r in results if r[0] == "generate" and r[1] == 200]
    return {
        "clients": clients, "wall_s": round(wall, 1), "requests": len(results),
        "requests_per_s": round(len(results) / wall, 2), "generations": len(done),
        "generations_per_s": round(len(done) / wall, 2), "by_status": dict(sorted(by_status.items())),
        "latency_ms": percentiles([e for _, _, e in results]),
        "generation_latency_ms": percentiles([e for _, _, e in done]),
        "refusal_latency_ms": percentiles([e for _, s, e in results if 400 <= s < 500 or s == 503]),
        "server_errors": sum(1 for _, s, _ in results if s >= 500 and s != 503),
        "problems": problems[:20], "num_problems": len(problems),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m genlab.app.loadtest", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.add_argument("--serve-arg", action="append", default=[], help="an option for genlab serve, e.g. --serve-arg=--queue=4")
    args = p.parse_args(argv)
    proc, base = start_server(args.runs, args.serve_arg)
    try:
        report = run_load(base, args.seconds, args.clients, args.seed)
    finally:
        stop_server(proc)
    report["serve_args"] = args.serve_arg
    if args.json:
        print(json.dumps(report))
    else:
        print(json.dumps(report, indent=2))
    return 1 if report["num_problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
