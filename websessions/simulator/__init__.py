"""Simulated web traffic of several sites as event lines (:mod:`websessions.events`): ``websessions generate``.

Realistic rather than uniform: people arrive along a daily curve, read pages for lognormal think times,
follow each site's navigation (home → courses → course → pricing → signup …), come from search engines,
social networks, newsletters or nowhere, come back later (so their sessions split), hop between sister
sites; crawlers fetch many pages fast; some pages fail or load slowly; delivery adds late, duplicate and
malformed lines at configurable shares. Deterministic by seed; standard library only.

- :func:`generate_day`: a backfill day, exactly N lines, every event inside the day.
- :func:`live_schedule` (pure) and :func:`generate_live` (paced by the clock): live traffic at R events/s.
- :class:`GenerationStats`: what was emitted (valid, late, duplicates, malformed), for tests and the audit.

Layout: :mod:`.sites` (hosts, pages, navigation), :mod:`.population` (people, crawlers, addresses),
:mod:`.behaviour` (arrivals, visits, returns), :mod:`.stream` (ids, JSON lines, faults, statistics).
"""

from websessions.simulator.sites import DEFAULT_HOSTS
from websessions.simulator.stream import (
    GenerationStats,
    SimulatorConfig,
    day_start_ms,
    generate_day,
    generate_live,
    live_schedule,
)

__all__ = [
    "DEFAULT_HOSTS",
    "GenerationStats",
    "SimulatorConfig",
    "day_start_ms",
    "generate_day",
    "generate_live",
    "live_schedule",
]
