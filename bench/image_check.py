"""Benchmark: checking many image URLs, concurrently versus one by one, with peak memory.

Serves product-sized pictures (1000-1600 px JPEGs and PNGs, some CMYK, some with alpha) from a
real HTTP server on 127.0.0.1, then runs the checker in a fresh child process per measurement so
the peak resident memory (ru_maxrss) belongs to that run alone. Memory is reported as the growth
over the child's baseline after its first check. Prints figures; asserts nothing.

    .venv/bin/python bench/image_check.py [--count 200] [--concurrency 16] [--latency-ms 50]

Rows with a latency make the server wait before each picture, like a far-away image host: that is
where checking concurrently pays; on 127.0.0.1 with no latency the work is all CPU (decoding).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402

from handlers.image_check import FetchPolicy, ImageChecker  # noqa: E402
from tests.image_server import start_image_server  # noqa: E402


def _picture(size: tuple[int, int], mode: str, seed: int) -> Image.Image:
    base = Image.effect_mandelbrot(size, (-2.0 + seed * 0.01, -1.2, 0.8, 1.2), 60).convert("RGB")
    ImageDraw.Draw(base).ellipse((size[0] // 5, size[1] // 5, size[0] // 2, size[1] // 2), fill=(220, 40, 40))
    return base.convert(mode)


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, quality=88) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


def catalogue() -> dict[str, tuple[bytes, str]]:
    """Twenty distinct product pictures; the 200 URLs cycle through them with distinct query strings."""
    images: dict[str, tuple[bytes, str]] = {}
    for i in range(20):
        size = (1000 + 30 * i, 1000 + 20 * i)
        if i % 5 == 3:
            images[f"/p{i}.png"] = (_encode(_picture(size, "RGBA", i), "PNG"), "image/png")
        elif i % 5 == 4:
            images[f"/p{i}.jpg"] = (_encode(_picture(size, "CMYK", i), "JPEG"), "image/jpeg")
        else:
            images[f"/p{i}.jpg"] = (_encode(_picture(size, "RGB", i), "JPEG"), "image/jpeg")
    return images


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def child(urls: list[str], concurrency: int, sequential: bool) -> dict[str, float]:
    """One measurement, run in its own process; returns figures as a dict."""
    policy = FetchPolicy(allow=("127.0.0.1",))
    with ImageChecker(policy, concurrency=concurrency) as checker:
        checker.check(urls[0])  # warm up: imports, codecs, the connection pool
        baseline = _rss_mb()
        started = time.perf_counter()
        if sequential:
            results = [checker.check(url) for url in urls]
        else:
            results = checker.check_many(urls)
        wall = time.perf_counter() - started
    verdicts: dict[str, int] = {}
    for result in results:
        verdicts[str(result.verdict)] = verdicts.get(str(result.verdict), 0) + 1
    return {
        "count": len(urls),
        "wall_s": round(wall, 3),
        "per_url_ms": round(wall / len(urls) * 1000, 2),
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(_rss_mb(), 1),
        "growth_mb": round(_rss_mb() - baseline, 1),
        "verdicts": verdicts,  # type: ignore[dict-item]
    }


def _measure(urls: list[str], concurrency: int, sequential: bool) -> dict[str, float]:
    spec = json.dumps({"urls": urls, "concurrency": concurrency, "sequential": sequential})
    completed = subprocess.run(
        [sys.executable, __file__, "--child"], input=spec, capture_output=True, text=True, check=True
    )
    figures: dict[str, float] = json.loads(completed.stdout)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server wait per picture")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(sys.stdin.read())
        print(json.dumps(child(spec["urls"], spec["concurrency"], spec["sequential"])))
        return 0

    images = catalogue()
    paths = sorted(images)
    total_bytes = sum(len(body) for body, _ in images.values())
    server, stop = start_image_server(images)
    try:

        def urls(count: int) -> list[str]:
            return [server.url(f"{paths[i % len(paths)]}?n={i}") for i in range(count)]

        print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
        average_kb = total_bytes / len(images) / 1024
        print(f"pictures: {len(images)} distinct, {average_kb:.0f} KB on average, 1000-1570 px")
        latency = args.latency_ms / 1000
        rows = [
            ("sequential", args.count, 1, True, 0.0),
            ("concurrent", args.count, args.concurrency, False, 0.0),
            ("concurrent", args.count // 2, args.concurrency, False, 0.0),
            ("concurrent", args.count * 2, args.concurrency, False, 0.0),
            ("sequential", args.count, 1, True, latency),
            ("concurrent", args.count, args.concurrency, False, latency),
        ]
        print(
            f"{'mode':<11} {'latency':>7} {'urls':>5} {'workers':>7} {'wall s':>7} {'ms/url':>7} "
            f"{'peak MB':>8} {'growth MB':>9}  verdicts"
        )
        for mode, count, workers, sequential, wait in rows:
            server.latency = wait
            figures = _measure(urls(count), workers, sequential)
            print(
                f"{mode:<11} {wait * 1000:>5.0f}ms {count:>5} {workers:>7} {figures['wall_s']:>7.2f} "
                f"{figures['per_url_ms']:>7.1f} {figures['peak_rss_mb']:>8.1f} {figures['growth_mb']:>9.1f}  "
                f"{figures['verdicts']}"
            )
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
