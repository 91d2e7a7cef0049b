#!/usr/bin/env python3
"""serve-load.py: a bounded load test of a running `ttt serve` on loopback (issue 22).

C concurrent clients send completion requests with mixed prompt lengths for a bounded time.
Every distinct request is first served alone (one at a time) to get its reference reply and the
unbatched latency; under load each reply must equal its reference (no request lost or mixed up).
Prints throughput (requests/s, generated tokens/s), p50/p99 latency, and the server's mean batch
occupancy (GET /metrics) over the loaded phase.

  scripts/serve-load.py --url http://127.0.0.1:8080 --clients 64 --seconds 20 --max-tokens 16
"""
import argparse
import json
import random
import threading
import time
import urllib.request


def post(url, body, key=None):
    req = urllib.request.Request(url + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": "Bearer " + key} if key else {})})
    t0 = time.time()
    with urllib.request.urlopen(req, timeout=600) as r:
        j = json.loads(r.read())
    return j, time.time() - t0


def metrics(url, key=None):
    req = urllib.request.Request(url + "/metrics", headers={"Authorization": "Bearer " + key} if key else {})
    with urllib.request.urlopen(req, timeout=60) as r:
        out = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--key")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--kinds", type=int, default=8, help="distinct requests (prompt lengths 4..~4*64 words)")
    a = ap.parse_args()
    rnd = random.Random(0)
    words = "the of and to in a is that for it as was with be by on not he this are or his from at which".split()
    reqs = []
    for i in range(a.kinds):
        n = 4 * (2 ** (i % 7))
        reqs.append({"prompt": " ".join(rnd.choice(words) for _ in range(n)), "max_tokens": a.max_tokens,
                     "temperature": 0.8, "seed": i})
    ref, alone = [], []
    for r in reqs:  # alone, one at a time
        j, dt = post(a.url, r, a.key)
        ref.append(j["choices"][0]["text"])
        alone.append(dt)
    m0 = metrics(a.url, a.key)
    lat, bad, done, toks = [], [], [0], [0]
    lock = threading.Lock()
    stop = time.time() + a.seconds

    def client(c):
        k = c
        while time.time() < stop:
            i = k % len(reqs)
            k += a.clients
            try:
                j, dt = post(a.url, reqs[i], a.key)
                ok = j["choices"][0]["text"] == ref[i]
            except Exception as e:  # noqa: BLE001
                ok, dt, j = False, 0, {"error": str(e)}
            with lock:
                lat.append(dt)
                done[0] += 1
                toks[0] += j.get("usage", {}).get("completion_tokens", 0)
                if not ok:
                    bad.append((i, j))

    t0 = time.time()
    th = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.time() - t0
    m1 = metrics(a.url, a.key)
    steps = m1["ttt_decode_steps_total"] - m0["ttt_decode_steps_total"]
    occ = (m1["ttt_batch_occupancy"] * m1["ttt_decode_steps_total"] -
           m0["ttt_batch_occupancy"] * m0["ttt_decode_steps_total"]) / steps if steps else 0
    print(json.dumps({"clients": a.clients, "requests": done[0], "mismatched_or_failed": len(bad),
                      "seconds": round(wall, 2), "requests_per_s": round(done[0] / wall, 3),
                      "generated_tokens_per_s": round(toks[0] / wall, 1),
                      "latency_p50_s": round(pct(lat, 50), 3), "latency_p99_s": round(pct(lat, 99), 3),
                      "alone_latency_mean_s": round(sum(alone) / len(alone), 3),
                      "alone_requests_per_s": round(len(alone) / sum(alone), 3),
                      "mean_batch_occupancy": round(occ, 2)}))
    if bad:
        print("first mismatch:", bad[0])
        raise SystemExit(1)


if __name__ == "__main__":
    main()
