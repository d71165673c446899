"""Exact and near-duplicate fingerprints (pure).

Contract:

* :func:`content_hash` is the SHA-256 of the normalised body with page furniture removed; the
  database keeps one original per hash (partial unique index), so an exact duplicate is found by
  an indexed equality lookup.
* :func:`fingerprint` computes a MinHash signature over word 5-gram shingles. Its bytes carry the
  shingle count in a 4-byte header, so that Jaccard estimates can be turned into *containment*
  ("how much of the new text is in the old one") without the old text.
* :func:`band_keys` cuts a signature into LSH bands, each hashed to a signed 64-bit key. Two texts
  are near-duplicate candidates when they share a band key; candidates are then verified with
  :func:`estimate_containment`. Lookup cost depends on the number of bands, not on the archive.

Band geometry (defaults 64 bands x 2 rows over 128 permutations): a pair with Jaccard J becomes a
candidate with probability 1 - (1 - J^2)^64, i.e. > 0.99 at J=0.3, 0.93 at J=0.2, 0.47 at J=0.1,
so short excerpts of long texts are found too; every candidate is then verified by estimated
containment, which keeps the false candidates out of the result (they cost a verification each,
at most ``near_duplicate_candidates`` per lookup).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from monitor.text import clean_body, normalise, shingles, words

_MASK32 = np.uint64(0xFFFFFFFF)
_SEED = 0x5EED_F00D


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Content hash, MinHash signature and shingle count of one article body."""

    content_hash: str
    signature: npt.NDArray[np.uint32]
    shingle_count: int

    def to_bytes(self) -> bytes:
        return struct.pack("<I", self.shingle_count) + self.signature.astype("<u4").tobytes()


def signature_from_bytes(blob: bytes) -> tuple[npt.NDArray[np.uint32], int]:
    """Inverse of :meth:`Fingerprint.to_bytes`: (signature, shingle count)."""
    (count,) = struct.unpack_from("<I", blob)
    return np.frombuffer(blob, dtype="<u4", offset=4).astype(np.uint32), count


def _hash32_all(grams: Iterable[tuple[str, ...]]) -> npt.NDArray[np.uint64]:
    """32-bit hash of every shingle (BLAKE2b of its space-joined words, read little-endian).

    The digests are joined and read as one array: per-shingle integer conversion cost more than
    the hashing.
    """
    blake2b = hashlib.blake2b
    digests = b"".join([blake2b(" ".join(g).encode(), digest_size=4).digest() for g in grams])
    return np.frombuffer(digests, dtype="<u4").astype(np.uint64)


def _permutations(num_perm: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    # Multiply-shift hashing (a*x + b) >> 32 with odd 64-bit a: a universal family that numpy
    # evaluates with wrapping uint64 arithmetic. Fixed seed: signatures must be stable forever.
    rng = np.random.default_rng(_SEED)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    return a, b


_PERM_CACHE: dict[int, tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]] = {}


def minhash(hashes: npt.NDArray[np.uint64], num_perm: int) -> npt.NDArray[np.uint32]:
    """MinHash signature of a set of 32-bit shingle hashes."""
    if num_perm not in _PERM_CACHE:
        _PERM_CACHE[num_perm] = _permutations(num_perm)
    a, b = _PERM_CACHE[num_perm]
    if hashes.size == 0:
        return np.full(num_perm, 0xFFFFFFFF, dtype=np.uint32)
    values = (hashes[:, None] * a[None, :] + b[None, :]) >> np.uint64(32)
    result: npt.NDArray[np.uint32] = (values & _MASK32).min(axis=0).astype(np.uint32)
    return result


def content_hash(body: str) -> str:
    """SHA-256 of the normalised body without page furniture (falls back to the raw body)."""
    cleaned = clean_body(body) or body
    return hashlib.sha256(normalise(cleaned).encode()).hexdigest()


def fingerprint(body: str, *, num_perm: int = 128, shingle_size: int = 5) -> Fingerprint:
    return fingerprint_cleaned(
        clean_body(body) or body, num_perm=num_perm, shingle_size=shingle_size
    )


def fingerprint_cleaned(cleaned: str, *, num_perm: int = 128, shingle_size: int = 5) -> Fingerprint:
    """:func:`fingerprint` of a body already reduced by :func:`monitor.text.clean_body` (for a
    caller that has split the body into content sentences for other uses too)."""
    grams = shingles(words(cleaned), shingle_size)
    hashes = _hash32_all(grams)
    return Fingerprint(
        content_hash=hashlib.sha256(normalise(cleaned).encode()).hexdigest(),
        signature=minhash(hashes, num_perm),
        shingle_count=len(grams),
    )


def band_keys(signature: npt.NDArray[np.uint32], bands: int) -> list[int]:
    """One signed 64-bit key per band (band index mixed in so bands never collide)."""
    rows = len(signature) // bands
    keys = []
    for i in range(bands):
        chunk = signature[i * rows : (i + 1) * rows].astype("<u4").tobytes()
        digest = hashlib.blake2b(chunk, digest_size=8, person=i.to_bytes(2, "little")).digest()
        keys.append(int.from_bytes(digest, "little", signed=True))
    return keys


def estimate_jaccard(a: npt.NDArray[np.uint32], b: npt.NDArray[np.uint32]) -> float:
    if len(a) != len(b) or len(a) == 0:
        return 0.0
    return float(np.count_nonzero(a == b)) / len(a)


def estimate_containment(
    new_sig: npt.NDArray[np.uint32], new_count: int, old_sig: npt.NDArray[np.uint32], old_count: int
) -> float:
    """Estimated share of the new text's shingles found in the old text.

    From J = |A∩B| / |A∪B| and the set sizes: |A∩B| = J (|A| + |B|) / (1 + J).
    """
    if new_count == 0:
        return 0.0
    j = estimate_jaccard(new_sig, old_sig)
    inter = j * (new_count + old_count) / (1.0 + j)
    return min(1.0, inter / new_count)


def exact_containment(new_text: str, old_text: str, shingle_size: int = 5) -> float:
    """Share of ``new_text``'s shingles present in ``old_text`` (evaluation and tests)."""
    new = shingles(words(new_text), shingle_size)
    if not new:
        return 0.0
    return len(new & shingles(words(old_text), shingle_size)) / len(new)
