"""The runner's start-up ramp: a job's workers start spaced out, within a bounded ramp."""

from __future__ import annotations

import itertools

import pytest

from blossom_studio.synth.runner import MAX_RAMP, START_SPACING, start_delays


@pytest.mark.parametrize("workers", [1, 16, 64, 250, 256, 8192])
def test_workers_start_at_most_start_spacing_apart_and_within_the_ramp(workers: int) -> None:
    delays = start_delays(workers)
    assert len(delays) == workers and delays[0] == 0.0
    gaps = [later - earlier for earlier, later in itertools.pairwise(delays)]
    assert all(0 < gap <= START_SPACING + 1e-12 for gap in gaps)
    assert delays[-1] < MAX_RAMP


def test_a_small_roster_ramps_at_the_full_spacing() -> None:
    assert start_delays(64)[-1] == pytest.approx(63 * START_SPACING)
    assert start_delays(1024)[-1] == pytest.approx(1023 * MAX_RAMP / 1024)
