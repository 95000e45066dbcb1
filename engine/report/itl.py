"""A cell's inter-token latencies, held on disk so the client's memory stays flat in tokens.

A cell of the seed's largest size streams 10.5M tokens: its ITLs as Python floats would take
about 350 MB, and as packed doubles still 84 MB. Here every finished request's ITLs (a chunk of
k tokens after gap g is k ITLs of g/k, in ms) are appended as packed doubles to a temporary file.
At the cell's end the figures are computed exactly as engine.report.metrics defines them for a
list (mean, population std, percentiles by linear interpolation between closest ranks), in
bounded memory: the file is sorted in runs of RUN values into a second one, each percentile's
ranks are found by a binary search over the values' order-preserving bit patterns (bisect into
every sorted run, read value by value), and the sums (of values and of squares) are taken run by run with math.fsum.
"""

from __future__ import annotations

import math
import operator
import os
import struct
import tempfile
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import chain, compress, repeat

from engine.load.record import RequestRecord
from engine.report.registry import ITL, PERCENTILES, STATS, Latency

RUN = 1 << 17  # values per buffer and per sorted run: 1 MiB of doubles
SIGN = 1 << 63


def _key(x: float) -> int:
    """An integer whose order is the float's (IEEE 754: flip negatives whole, set positives' sign bit)."""
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    return (bits ^ (2**64 - 1)) if bits & SIGN else (bits | SIGN)


def _value(key: int) -> float:
    bits = (key & ~SIGN) if key & SIGN else (key ^ (2**64 - 1))
    return struct.unpack("<d", struct.pack("<Q", bits))[0]


def interpolate(n: int, p: float, at) -> float:
    """The p-th percentile of n sorted values, `at(i)` the i-th: closest ranks, linear (numpy's default)."""
    k = (n - 1) * p / 100.0
    lo = math.floor(k)
    hi = min(lo + 1, n - 1)
    low = at(lo)
    return low + (at(hi) - low) * (k - lo)


def itls_ms(gaps: Sequence[float], tokens: Sequence[int]) -> Iterable[float]:
    """One request's ITLs in ms: a chunk of k tokens after gap g gives k of g / k (iterated in C:
    this runs once per request during the load)."""
    if 0 in tokens:  # a chunk without tokens has no gap of its own (never made by our loops)
        kept = [k > 0 for k in tokens]
        gaps, tokens = list(compress(gaps, kept)), list(compress(tokens, kept))
    per_chunk = map(operator.mul, map(operator.truediv, gaps, tokens), repeat(1000.0))
    if tokens.count(1) == len(tokens):
        return per_chunk
    return chain.from_iterable(map(repeat, per_chunk, tokens))


def _figures(family: Latency, n: int, mean: float, variance: float, kth) -> dict[str, float | None]:
    """The family's statistics by CellResult field, `kth(i)` the i-th smallest of the n values."""
    by_stat = {"mean": mean, "median": interpolate(n, 50, kth), "std": math.sqrt(variance)}
    by_stat |= {stat: interpolate(n, p, kth) for p, stat in PERCENTILES.items() if stat != "median"}
    return {family.key(s): by_stat[s] for s in STATS}


class Itls:
    """A cell's ITLs in ms. `add` takes a finished request's; `stats` gives the cell's figures.
    Values go to a temporary file RUN at a time; where no file can be written they stay in memory."""

    def __init__(self, run: int = RUN):
        self.run, self.n = run, 0
        self._buf = array("d")
        try:
            self._file = tempfile.TemporaryFile(prefix="llmbench-itl-")  # noqa: SIM115 (closed by close())
        except OSError:  # no writable temporary folder: the values stay in memory
            self._file = None
        self._memory: list[array] = []  # what could not be written (disk full): kept here instead

    def add(self, record: RequestRecord) -> None:
        """A request's ITLs, when they count (completed, not every token in one read)."""
        if record.ok and not record.one_read:
            self.extend(itls_ms(record.chunk_gaps, record.chunk_tokens))

    def take(self, record: RequestRecord) -> None:
        """`add`, then drop the record's per-chunk gaps: from here on only this holds them."""
        self.add(record)
        record.chunk_gaps, record.chunk_tokens = array("d"), array("I")

    def extend(self, values_ms: Iterable[float]) -> None:
        buf = self._buf
        before = len(buf)
        buf.extend(values_ms)
        self.n += len(buf) - before
        if len(buf) >= self.run:
            self._spill()

    def _spill(self) -> None:
        buf, self._buf = self._buf, array("d")
        if self._file is not None:
            try:
                buf.tofile(self._file)
                return
            except OSError:  # no space for the spool: correct figures first, memory second
                self._file.close()
                self._file = None
        self._memory.append(buf)

    def _runs(self) -> Iterable[array]:
        """Every value, RUN at a time, in the order added."""
        if self._file is not None:
            self._file.seek(0)
            while chunk := self._file.read(self.run * 8):
                yield array("d", chunk)
        yield from self._memory
        if self._buf:
            yield self._buf

    def stats(self, family: Latency = ITL) -> dict[str, float | None]:
        """The figures engine.report.metrics._stats gives for the same values, by CellResult field."""
        if not self.n:
            return {family.key(s): None for s in STATS}
        try:
            return self._on_disk(family)
        except OSError:  # no room to sort on disk: the same figures from one sorted list in memory
            ordered = sorted(chain.from_iterable(self._runs()))
            mean = math.fsum(ordered) / self.n
            variance = math.fsum((v - mean) ** 2 for v in ordered) / self.n
            return _figures(family, self.n, mean, variance, ordered.__getitem__)

    def _on_disk(self, family: Latency) -> dict[str, float | None]:
        with tempfile.TemporaryFile(prefix="llmbench-itl-sorted-") as out:
            sums, squares, bounds, offset, lowest, highest = [], [], [], 0, math.inf, -math.inf
            for run in self._runs():
                ordered = sorted(run)
                sums.append(math.fsum(ordered))
                squares.append(math.fsum(map(operator.mul, ordered, ordered)))
                lowest, highest = min(lowest, ordered[0]), max(highest, ordered[-1])
                array("d", ordered).tofile(out)
                bounds.append((offset, len(ordered)))
                offset += len(ordered)
            out.flush()
            total = math.fsum(sums)
            mean = total / self.n
            # sum((v - mean)^2) = sum(v^2) - total^2 / n, each sum exactly rounded (fsum): exact but
            # for rounding of the order of 1e-16 * mean^2 / variance (1e-10 for a std of mean/1000).
            variance = max(0.0, (math.fsum(squares) - total * total / self.n) / self.n)
            rank = _Ranks([_OnDisk(out.fileno(), start, size) for start, size in bounds], lowest, highest)
            return _figures(family, self.n, mean, variance, rank.kth)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._memory.clear()

    def __enter__(self) -> Itls:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _OnDisk:
    """A sorted run in the file, indexed value by value with pread: bisect reads only the values it
    probes, and the page cache they come through is not this process's memory (a mapping's is)."""

    def __init__(self, fd: int, start: int, size: int):
        self.fd, self.start, self.size = fd, start, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> float:
        return struct.unpack("<d", os.pread(self.fd, 8, 8 * (self.start + i)))[0]


class _Ranks:
    """The k-th smallest of values held in sorted runs: the least value v with more than k values
    <= v, found by bisection over the order-preserving integer keys between the extremes."""

    def __init__(self, runs: list, lowest: float, highest: float):
        self.runs, self.lowest, self.highest = runs, lowest, highest
        self.cache: dict[int, float] = {}

    def _at_most(self, x: float) -> int:
        return sum(bisect_right(run, x) for run in self.runs)

    def kth(self, k: int) -> float:
        if k not in self.cache:
            lo, hi = _key(self.lowest), _key(self.highest)
            while lo < hi:  # invariant: the answer's key is in [lo, hi]
                mid = (lo + hi) // 2
                if self._at_most(_value(mid)) > k:
                    hi = mid
                else:
                    lo = mid + 1
            self.cache[k] = _value(lo)
        return self.cache[k]
