"""Timing shared by tools/torch_bench.py and tools/peer_bench.py: whole
forwards after warm-up, summarized as `clinception bench` does (median,
nearest-rank p10 and p90, in ms)."""

import time


def add_timing_options(parser):
    """--batch, --size, --iters, --warmup and --threads, as `clinception bench` has them."""
    parser.add_argument("--batch", type=int, default=1, help="images per forward")
    parser.add_argument("--size", type=int, default=299, help="input height and width")
    parser.add_argument("--iters", type=int, default=10, help="timed forwards")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forwards first")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")


def time_forwards(run, warmup, iters):
    """Calls run() warmup + iters times; the figures of the last iters."""
    times = []
    for i in range(warmup + iters):
        start = time.perf_counter()
        run()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    n = len(times)
    rank = lambda q: times[max(0, -(-q * n // 100) - 1)]  # nearest rank
    return {"iters": n, "median_ms": (times[(n - 1) // 2] + times[n // 2]) / 2,
            "p10_ms": rank(10), "p90_ms": rank(90)}
