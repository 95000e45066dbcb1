"""A --search run's cell loop: per ISL/OSL, probe loads (engine.run.search decides which) until the
highest one meeting the SLOs is found. Each probe is a cell of the run, made as the search goes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from engine.events import Notice, Observer
from engine.plan import Cell, build_plan
from engine.profiles import ResolvedProfile
from engine.report.model import CellResult
from engine.report.results import ResultsWriter
from engine.run.preflight import open_files_left, worst_in_flight
from engine.run.search import Search
from engine.server.launcher_base import ServerInfo


def probe_cell(grid, seq: str, level: float, index: int) -> Cell:
    """A search probe: the grid's cell for one ISL/OSL at one concurrency or rate."""
    axis = {"concurrency": [int(level)], "rates": []} if grid.search == "concurrency" else {"rates": [level]}
    (cell,) = build_plan(grid.model_copy(update={**axis, "seq": [seq], "search": None}))
    return replace(cell, index=index)


async def run_searches(
    profile: ResolvedProfile,
    info: ServerInfo,
    writer: ResultsWriter,
    measure: Callable[[Cell], Awaitable[CellResult]],
    emit: Observer,
) -> None:
    """Every search of the profile; after a resume, each goes on from its finished probes."""
    grid, load, summary = profile.grid, profile.load, writer.summary
    labels: set[str] = set()
    for seq in grid.seq:
        if any(found.seq == seq for found in summary.search):
            continue  # searched to the end before a resume
        label = probe_cell(grid, seq, grid.search_start, 0)
        label = label.seq or f"{label.input_len}/{label.output_len}"
        if label in labels:  # a dataset's lengths are per request: two seqs can be one workload
            continue
        labels.add(label)
        search = Search(grid.search, load.slo, grid.search_percentile, grid.search_start, grid.search_max_probes)
        search.max_failed_share = load.max_failed_share
        # After a resume: this search's finished probes, replayed in order, put it back where it stopped.
        for probe in [c for c in summary.cells if c.seq == label]:
            search.record(probe.load_level, probe)
        if search.probes:
            kept = ", ".join(f"{p.level:g}" for p in search.probes)
            emit(Notice("info", f"search {seq}: {len(search.probes)} probes kept ({kept}), going on"))
        await _probe(profile, info, search, seq, len(summary.cells), measure)
        found = search.summary(seq)
        summary.search.append(found)
        writer.write_summary()
        emit(Notice("info", f"search: {found.sentence}"))


async def _probe(
    profile: ResolvedProfile,
    info: ServerInfo,
    search: Search,
    seq: str,
    index: int,
    measure: Callable[[Cell], Awaitable[CellResult]],
) -> None:
    while (level := search.next_level()) is not None:
        cell = probe_cell(profile.grid, seq, level, index=index)
        if (sockets := open_files_left()) is not None and worst_in_flight(cell, profile)[0] > sockets:
            # Past the open-file limit its requests would fail for want of sockets, which
            # the search would read as the server failing: the client's limit, said as such.
            search.stopped = f"the client's open-file limit allows about {sockets} in flight (ulimit -n)"
            return
        if info.max_model_len and cell.longest_request > info.max_model_len:
            search.stopped = f"ISL+OSL exceeds the server's max_model_len {info.max_model_len}"
            return
        search.record(level, await measure(cell))
        index += 1
