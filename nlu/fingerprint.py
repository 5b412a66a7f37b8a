"""Fingerprints of messages for "you are not alone": near-duplicates found without keeping the text.

A message is normalised (diacritics folded, teencode expanded, numbers, links and amounts turned into
tokens, so "chuyển 2tr" and "chuyen 500k" look alike), cut into overlapping 5-character shingles,
and each shingle is hashed with a secret key. The fingerprint keeps only the 64 smallest values of
64 keyed permutations (MinHash) and 16 band keys derived from them (for lookup). Neither can be read
back into words: they are minima of keyed hashes, and without the key not even a guessed text can be
checked against them.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np

from handlers.models import Fingerprint
from nlu.normalize import normalize

HASHES = 64
BANDS = 16
ROWS = HASHES // BANDS
SHINGLE = 5
# Fewer shingles than this: too short to say two messages are "the same" (e.g. "cứu em").
MIN_SHINGLES = 20
MAX_CHARS = 4000
# A Mersenne prime small enough that a * h + b fits in 64 bits for vectorised permutations.
PRIME = (1 << 31) - 1


class Fingerprinter:
    """The Fingerprinter port, keyed by a secret (derived from the pseudonym key)."""

    def __init__(self, key: bytes) -> None:
        self._key = hmac.new(key, b"notalone-fingerprint-v1", hashlib.sha256).digest()
        seed = int.from_bytes(hashlib.sha256(self._key + b"permutations").digest()[:8], "big")
        rng = np.random.default_rng(seed)
        self._a = rng.integers(1, PRIME, size=HASHES, dtype=np.uint64)
        self._b = rng.integers(0, PRIME, size=HASHES, dtype=np.uint64)

    def _hashes(self, text: str) -> np.ndarray | None:
        norm = " ".join(normalize(text[:MAX_CHARS]).split())
        shingles = {norm[i : i + SHINGLE] for i in range(max(0, len(norm) - SHINGLE + 1))}
        if len(shingles) < MIN_SHINGLES:
            return None
        values = [
            int.from_bytes(hashlib.blake2b(s.encode(), key=self._key, digest_size=8).digest(), "big") % PRIME
            for s in shingles
        ]
        return np.array(values, dtype=np.uint64)

    def fingerprint(self, text: str) -> Fingerprint | None:
        """The message's fingerprint, or None when it is too short to compare."""
        hashed = self._hashes(text)
        if hashed is None:
            return None
        permuted = (np.outer(self._a, hashed) + self._b[:, None]) % np.uint64(PRIME)
        minima = [int(v) for v in permuted.min(axis=1)]
        bands = tuple(
            f"{band:02d}"
            + hashlib.blake2b(
                repr(minima[band * ROWS : (band + 1) * ROWS]).encode(), key=self._key, digest_size=8
            ).hexdigest()
            for band in range(BANDS)
        )
        return Fingerprint(signature=tuple(minima), bands=bands)
