from __future__ import annotations

import numpy as np

from monitor.dedup import (
    band_keys,
    content_hash,
    estimate_containment,
    exact_containment,
    fingerprint,
    signature_from_bytes,
)

_WORDS_TEXT = (
    "the council of the northern towns met on friday to decide how to share the cost of "
    "repairing the old stone bridge over the river which was damaged by ice in january and "
    "engineers warned that heavy trucks must wait until the spring inspection is complete "
    "while residents asked for a temporary ferry to connect the two halves of the valley"
)
WORDS = _WORDS_TEXT.split()


def _text(n: int, offset: int = 0) -> str:
    return " ".join(
        f"{WORDS[(i + offset) % len(WORDS)]}{(i + offset) // len(WORDS)}" for i in range(n)
    )


def test_content_hash_ignores_case_and_spacing_but_not_words() -> None:
    assert content_hash("A  long enough sentence about harbour talks here.") == content_hash(
        "a long enough sentence about HARBOUR talks here."
    )
    assert content_hash("A long enough sentence about harbour talks here.") != content_hash(
        "A long enough sentence about harbour walks here."
    )


def test_signature_roundtrip_and_stable_band_keys() -> None:
    fp = fingerprint(_text(300))
    sig, count = signature_from_bytes(fp.to_bytes())
    assert count == fp.shingle_count == 296
    assert np.array_equal(sig, fp.signature)
    assert band_keys(sig, 64) == band_keys(fingerprint(_text(300)).signature, 64)
    assert len(set(band_keys(sig, 64))) == 64


def test_containment_estimate_tracks_exact_containment() -> None:
    long_text, excerpt = _text(1000), _text(300, offset=200)
    a, b = fingerprint(long_text), fingerprint(excerpt)
    estimate = estimate_containment(b.signature, b.shingle_count, a.signature, a.shingle_count)
    assert exact_containment(excerpt, long_text) == 1.0
    assert estimate > 0.8
    unrelated = fingerprint(_text(300, offset=5000))
    assert (
        estimate_containment(
            unrelated.signature, unrelated.shingle_count, a.signature, a.shingle_count
        )
        < 0.2
    )
