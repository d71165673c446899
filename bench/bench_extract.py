"""Extraction throughput: bare trafilatura vs :func:`extract_page` vs :class:`Extractor`.

Builds N article pages of at least 50 KB (the golden fixture articles inside a lot of realistic
page chrome: menus, "most read" lists, inline scripts and styles, related links, comments),
then measures, in the same run and over the same HTML:

* bare: ``trafilatura.bare_extraction(html, url=url, with_metadata=True)`` in one process;
* bare with the options extract_page passes (fast mode, no comments, comment containers
  pruned): the difference to ``page`` is the stage's own per-page overhead;
* page: :func:`monitor.extract.extract_page` in one process, and with ``fallbacks="always"``
  (trafilatura's readability/jusText comparison on every page);
* pool: :class:`monitor.extract_pool.Extractor` with ``--workers`` processes (pool start excluded,
  it is paid once per cycle; reported separately).

    .venv/bin/python bench/bench_extract.py --pages 500 --workers 2
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from trafilatura import bare_extraction

from monitor.extract import _PRUNE_XPATH, _trafilatura, extract_page
from monitor.extract_pool import Extractor

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "pages"


def _chrome(seed: int) -> str:
    menu = "".join(
        f'<li><a href="/section/{seed}/{i}">Section {i} and its sub-pages</a></li>'
        for i in range(60)
    )
    most_read = "".join(
        f'<li><a href="/story/{seed * 97 + i}">Council {i} approves plan for new bridge number '
        f"{seed + i}, residents react</a></li>"
        for i in range(40)
    )
    script = "var cfg = {" + ",".join(f'"k{i}": "v{seed}-{i}"' for i in range(1000)) + "};"
    style = "".join(f".c{seed}-{i}{{margin:{i}px;padding:{i % 7}px}}" for i in range(600))
    comments = "".join(
        f'<div class="comment"><p class="comment-author">reader{seed}_{i}</p><p>I read this '
        f"story number {i} with interest and I disagree with point {i % 5}.</p></div>"
        for i in range(25)
    )
    return (
        f"<style>{style}</style><script>{script}</script>"
        f'<nav class="mega-menu"><ul>{menu}</ul></nav>'
        f'<aside class="most-read"><h2>Most read</h2><ol>{most_read}</ol></aside>'
        f'<section id="comments" class="comments">{comments}</section>'
    )


def build_pages(count: int) -> list[tuple[str, bytes]]:
    templates = []
    for path in sorted(FIXTURES.glob("*.html")):
        raw = path.read_bytes()
        encoding = "windows-1254" if path.stem.endswith("_tr") else "utf-8"
        templates.append((path.stem, raw.decode(encoding), encoding))
    pages = []
    for index in range(count):
        stem, html, encoding = templates[index % len(templates)]
        page = html.replace("</body>", _chrome(index) + "</body>").replace(
            "</h1>", f" ({index})</h1>", 1
        )
        data = page.encode(encoding, "xmlcharrefreplace")
        pages.append((f"https://bench.example/{stem}/{index}", data))
    return pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="best of N for each measurement")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # trafilatura logs every discarded page

    pages = build_pages(args.pages)
    sizes = sorted(len(html) for _, html in pages)
    print(f"{len(pages)} pages, {sizes[0] // 1024}-{sizes[-1] // 1024} KB each")

    def bare() -> None:
        for url, html in pages:
            bare_extraction(html, url=url, with_metadata=True)

    def bare_same_options() -> None:
        for url, html in pages:
            _trafilatura(html, url, _PRUNE_XPATH, 0, fast=True)  # extract_page's first pass

    def page() -> None:
        for url, html in pages:
            extract_page(html, url)

    def page_always() -> None:
        for url, html in pages:
            extract_page(html, url, fallbacks="always")

    def best(run: object) -> float:
        times = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            run()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    t_bare = best(bare)
    t_same = best(bare_same_options)
    t_page = best(page)
    t_always = best(page_always)
    with Extractor(args.workers) as extractor:
        start = time.perf_counter()
        extractor.extract_many(pages[:1])
        t_start = time.perf_counter() - start
        t_pool = best(lambda: extractor.extract_many(pages))
        got = extractor.extract_many(pages)
    usable = sum(r is not None for r in got)

    def rate(seconds: float) -> float:
        return len(pages) / seconds

    print(f"bare trafilatura, 1 process : {rate(t_bare):7.1f} pages/s")
    print(f"bare, extract_page options  : {rate(t_same):7.1f} pages/s  ratio {t_bare / t_same:.3f}")
    print(f"extract_page, 1 process     : {rate(t_page):7.1f} pages/s  ratio {t_bare / t_page:.3f}")
    print(
        f"extract_page, always fallbacks: {rate(t_always):5.1f} pages/s  "
        f"ratio {t_bare / t_always:.3f}"
    )
    print(
        f"Extractor, {args.workers} workers         : {rate(t_pool):7.1f} pages/s  "
        f"ratio {t_bare / t_pool:.3f}  (pool start {t_start:.2f} s, once)"
    )
    print(f"usable extractions          : {usable}/{len(pages)}")


if __name__ == "__main__":
    main()
