#!/usr/bin/env python3
"""Aggregate generation speed of a running `tern serve` under 1, 2, 4, 8 concurrent streams.

Usage: python3 bench/serve_load.py [BASE_URL] [MAX_TOKENS]   (default http://127.0.0.1:8080, 64)
Each stream is one chat completion (streamed, temperature 0, ignore EOS via logit_bias) of MAX_TOKENS tokens;
aggregate t/s = all completion tokens / wall time from the first request to the last [DONE]. Per-stream t/s uses
the server's own timings (predicted_per_second), i.e. the decode rate each client saw.
"""
import json
import sys
import threading
import time
import urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
MAX_TOKENS = int(sys.argv[2]) if len(sys.argv) > 2 else 64


def stream(i, results):
    body = json.dumps({
        "messages": [{"role": "user", "content": f"Story {i}: once upon a time"}],
        "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True,
        "stream_options": {"include_usage": True}, "logit_bias": {"2": -100},
    }).encode()
    req = urllib.request.Request(BASE + "/v1/chat/completions", body, {"Content-Type": "application/json"})
    tokens, rate = 0, 0.0
    with urllib.request.urlopen(req) as resp:
        for line in resp:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            if chunk.get("timings"):
                rate = chunk["timings"]["predicted_per_second"]
    results[i] = (tokens, rate)


print("| streams | aggregate t/s | mean per-stream t/s |")
print("| ---: | ---: | ---: |")
for n in (1, 2, 4, 8):
    results = [None] * n
    threads = [threading.Thread(target=stream, args=(i, results)) for i in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    total = sum(r[0] for r in results)
    print(f"| {n} | {total / wall:.2f} | {sum(r[1] for r in results) / n:.2f} |")
