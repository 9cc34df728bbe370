"""Decoding benchmark: reading rate per category and ms per 640x480 frame, Tem's pipeline against
pyzbar and OpenCV's QRCodeDetector in the same process, on one core.

    .venv/bin/python bench/decode.py [--per-category N] [--write-baseline] [--results]

--write-baseline records per-category rates in bench/decode_baseline.json (the tests hold the
pipeline to them); --results rewrites the "## Decoding" section of bench/RESULTS.md."""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# One core, as on a Pi doing everything else too: pin before numpy/OpenCV start their pools.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import cv2  # noqa: E402
from pyzbar import pyzbar  # noqa: E402

import scanner_images as images  # noqa: E402
from station.scanner import decode as tem_decode  # noqa: E402
from tem.stamp import StampURLError, parse_stamp_url  # noqa: E402

cv2.setNumThreads(1)
BASELINE = ROOT / "bench" / "decode_baseline.json"
RESULTS = ROOT / "bench" / "RESULTS.md"
BUDGET_MS = 150.0


def _valid(texts):
    out = []
    for t in texts:
        try:
            parse_stamp_url(t)
        except StampURLError:
            continue
        if t not in out:
            out.append(t)
    return out


def run_tem(frame):
    return tem_decode.decode(frame, budget_ms=BUDGET_MS)


def run_pyzbar(frame):
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    texts = []
    for s in pyzbar.decode(gray, symbols=[pyzbar.ZBarSymbol.QRCODE]):
        try:
            texts.append(s.data.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    return _valid(texts)


_cv = cv2.QRCodeDetector()


def run_opencv(frame):
    try:
        ok, texts, _, _ = _cv.detectAndDecodeMulti(frame)
    except cv2.error:
        return []
    return _valid([t for t in texts if t]) if ok else []


READERS = {"tem": run_tem, "pyzbar": run_pyzbar, "opencv": run_opencv}


def reading_rates(per_category: int):
    """Per reader and category: codes read, codes shown, wrong payloads, and per-frame ms."""
    stats = {r: {c: {"read": 0, "total": 0, "wrong": 0, "ms": []} for c in images.CATEGORIES} for r in READERS}
    for cat in images.CATEGORIES:
        for frame, expected in images.frames(cat, per_category):
            for name, reader in READERS.items():
                t0 = time.perf_counter()
                got = reader(frame)
                ms = (time.perf_counter() - t0) * 1000
                s = stats[name][cat]
                s["ms"].append(ms)
                s["total"] += len(expected)
                s["read"] += len(set(got) & set(expected))
                s["wrong"] += len(set(got) - set(expected))
    return stats


def test_rates(n: int):
    """What tests/test_decode.py checks: the first n frames a category, no time budget
    (so the figure does not depend on how busy the machine is)."""
    out = {}
    for cat in images.CATEGORIES:
        read = total = 0
        for frame, expected in images.frames(cat, n):
            got = tem_decode.decode(frame)
            read += len(set(got) & set(expected))
            total += len(expected)
        out[cat] = round(read / total, 3)
    return out


def frame_times(n: int):
    """Median and 95th-percentile ms per frame with no code in view and with one clean code."""
    empty = [images.empty_frame(i) for i in range(n)]
    one = [images.frame("clean", 1000 + i)[0] for i in range(n)]
    out = {}
    for name, reader in READERS.items():
        for label, frames in (("no code", empty), ("one code", one)):
            times = []
            for _ in range(3):
                for f in frames:
                    t0 = time.perf_counter()
                    reader(f)
                    times.append((time.perf_counter() - t0) * 1000)
            times.sort()
            out[(name, label)] = (statistics.median(times), times[int(0.95 * (len(times) - 1))])
    return out


def rate(s):
    return s["read"] / s["total"] if s["total"] else 0.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-category", type=int, default=40)
    ap.add_argument("--timing-frames", type=int, default=20)
    ap.add_argument("--test-frames", type=int, default=10, help="frames a category the tests use")
    ap.add_argument("--write-baseline", action="store_true")
    ap.add_argument("--results", action="store_true")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    stats = reading_rates(args.per_category)
    times = frame_times(args.timing_frames)

    lines = []
    lines.append(f"Synthetic set: {len(images.CATEGORIES)} categories x {args.per_category} frames (640x480, "
                 f"generator tests/scanner_images.py, seed 2024); Tem budget {BUDGET_MS:.0f} ms/frame; one core "
                 f"({platform.processor() or platform.machine()}, Python {platform.python_version()}); "
                 f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end of the run.")
    lines.append("")
    lines.append("| category | Tem | pyzbar | OpenCV | Tem median ms |")
    lines.append("|---|---:|---:|---:|---:|")
    totals = {r: {"read": 0, "total": 0, "wrong": 0} for r in READERS}
    for cat in images.CATEGORIES:
        row = [cat]
        for r in READERS:
            s = stats[r][cat]
            for k in ("read", "total", "wrong"):
                totals[r][k] += s[k]
            row.append(f"{100 * rate(s):.0f}%")
        row.append(f"{statistics.median(stats['tem'][cat]['ms']):.0f}")
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| **overall** | " + " | ".join(f"**{100 * rate(totals[r]):.1f}%**" for r in READERS) + " | |")
    lines.append("| wrong payloads | " + " | ".join(str(totals[r]["wrong"]) for r in READERS) + " | |")
    lines.append("")
    lines.append("| ms per 640x480 frame (median / p95) | Tem | pyzbar | OpenCV | pyzbar ÷ Tem | OpenCV ÷ Tem |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for label in ("no code", "one code"):
        tem, zb, cvd = (times[(r, label)] for r in READERS)
        lines.append(f"| {label} | {tem[0]:.1f} / {tem[1]:.1f} | {zb[0]:.1f} / {zb[1]:.1f} | "
                     f"{cvd[0]:.1f} / {cvd[1]:.1f} | {zb[0] / tem[0]:.1f}× | {cvd[0] / tem[0]:.1f}× |")
    fps_none = 1000 / times[("tem", "no code")][0]
    fps_one = 1000 / times[("tem", "one code")][0]
    overall = rate(totals["tem"])
    worst = min(images.CATEGORIES, key=lambda c: rate(stats["tem"][c]))
    lines.append("")
    lines.append(f"Goals: overall ≥ 95% → {100 * overall:.1f}%; every category ≥ 90% → worst {worst} "
                 f"{100 * rate(stats['tem'][worst]):.0f}%; ≥ 15 fps → {fps_none:.0f} fps (no code), "
                 f"{fps_one:.0f} fps (one code); zero wrong payloads → {totals['tem']['wrong']}.")
    report = "\n".join(lines)
    print(report)
    print(f"\n(bench took {time.perf_counter() - t0:.0f} s)")

    if args.write_baseline:
        BASELINE.write_text(json.dumps({
            "per_category": args.per_category,
            "seed": 2024,
            "budget_ms": BUDGET_MS,
            "rates": {c: round(rate(stats["tem"][c]), 3) for c in images.CATEGORIES},
            "overall": round(overall, 4),
            "test_frames": args.test_frames,
            "test_rates": test_rates(args.test_frames),
        }, indent=2) + "\n")
    if args.results:
        _write_section(report)
    return 0


NOTES = """\
- Rates count codes read of codes shown; OpenCV and pyzbar payloads pass the same Tem URL check, so
  "wrong" means a valid-looking URL that was not in the frame. pyzbar needs the system libzbar0.
- Frame times are whole `decode()` calls on empty scenes and on frames with one clean code;
  the fallback ladder (and its un-warp) only runs on frames with a located-but-unread symbol or loose
  finder patterns, and a step already running at the deadline finishes, so a hard frame can take up
  to one un-warp attempt (~30-60 ms) past the budget.
- Motion: a smear of 1.5-3 modules leaves no finder pattern to trigger the ladder, so a frame with
  nothing read whose gradients point mostly one way (structure-tensor coherence >= 0.3) gets Wiener
  deconvolution along the estimated direction with a few smear lengths, half size first
  (station/scanner/deblur.py); under a frame budget it takes at most 60 ms of it. Empty scenes with
  long straight edges pass that test too: that is the cost in the "no code" p95.
- Crumpled: the un-warp (station/scanner/unwarp.py) grows the module grid cell by cell from the
  finder patterns (each finder's own corners seed its 7x7 cells and local module vectors: a crease
  can make a finder's modules a third larger than the symbol's average) and the alignment pattern,
  best-measured cells first; each cell is predicted from its known neighbours and corrected by the
  phase of the module edges along a few lines of a 5x5-module window. The sampled matrix gets the
  fixed patterns (finders, separators, timing, alignment, dark module) restored and is read by
  zxing-cpp as a perfect symbol; its error correction and the stamp URL checks vouch for it. It
  runs after the cheap whole-frame fixes, on finders from three binarisations, about 30-60 ms.
- Glare: a saturated blob over a finder hides it, so no three finders make a symbol; after the
  upscaling steps the un-warp guesses the hidden finder from each pair found (beside either, or
  across the diagonal), ranks the guesses by how well the timing lines alternate, and grows the
  grid from the best two. The one glare frame left has its blob over the middle of the data.
- "flatten" blurs the background at an eighth of the size (it took ~50 ms a call at full size), and
  the frame's first look for finders smooths it a little (noise made tracing contours take ~100 ms).
- Before these changes (same set and budget): overall 94.3%, crumpled 20%, glare 88%. The image
  generator is unchanged.
- Crumpled leans on the wall-clock budget more than any other category (an un-warp is ~30-60 ms
  of it): on this 2-core machine runs gave crumpled 100% at load 3.0 and 22% at load 11 (both just
  before the last speed-up of the grid growing) and 95% at load 6.1 (after it); without a budget
  (what the tests hold it to) it reads all 20 test frames.
- The machine's 2 cores are shared with other work; the run's load average is printed above the
  tables, and per-frame times under load are upper bounds."""


def _write_section(report: str) -> None:
    """Replace only the "## Decoding" section; other sections belong to other benchmarks."""
    body = (f"## Decoding\n\n`.venv/bin/python bench/decode.py --per-category N` ({time.strftime('%Y-%m-%d')})\n\n"
            f"{report}\n\n{NOTES}\n")
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find("## Decoding")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + body + ("" if end < 0 else "\n" + text[end + 1:])
    RESULTS.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
