"""The evaluation's containment rule: every pair compared vs the shingle index, in one run.

``monitor eval stream`` checks that no article with >= 80 % of its 5-grams in an earlier one
became a development. Comparing every pair costs n²/2 set intersections; the index
(:func:`monitor.evaluation.best_earlier_containment`) counts only the shingles texts share. This
prints both times on the same texts (synthetic benchmark articles, and their titles as a
headline-only stream), their ratio, and checks that both give the same containment.

    .venv/bin/python bench/bench_containment.py --n 1500 --bodies 300
"""

from __future__ import annotations

import argparse
import time

from monitor.dedup import exact_containment
from monitor.demo.synthetic import synthetic_stream
from monitor.evaluation import best_earlier_containment
from monitor.text import clean_body


def pairwise(texts: list[str]) -> list[float]:
    return [
        max((exact_containment(text, texts[j]) for j in range(i)), default=0.0)
        for i, text in enumerate(texts)
    ]


def compare(label: str, texts: list[str]) -> None:
    start = time.process_time()
    slow = pairwise(texts)
    slow_s = time.process_time() - start
    start = time.process_time()
    fast = [share for share, _ in best_earlier_containment(texts)]
    fast_s = time.process_time() - start
    same = all(abs(a - b) < 1e-9 for a, b in zip(slow, fast, strict=True))
    print(
        f"{label}: {len(texts)} texts  every pair {slow_s:.2f} s CPU  index {fast_s:.3f} s CPU  "
        f"ratio {slow_s / max(fast_s, 1e-9):.0f}x  same results: {same}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1500, help="synthetic articles (headlines)")
    parser.add_argument("--bodies", type=int, default=300, help="of which whole bodies")
    args = parser.parse_args()
    stream = synthetic_stream(args.n, seed=7, domain="bench.example")
    compare("headlines", [a.title for a in stream])
    compare("bodies", [clean_body(a.text) or a.text for a in stream[: args.bodies]])


if __name__ == "__main__":
    main()
