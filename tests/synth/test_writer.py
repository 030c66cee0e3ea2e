"""The result writer's commit pacing: quick commits keep the base interval, slow ones gather more, within a bound."""

from __future__ import annotations

import pytest

from blossom_studio.synth.writer import COMMIT_INTERVAL, MAX_COMMIT_SHARE, MAX_COMMIT_WAIT, commit_wait


def test_quick_commits_keep_the_base_interval() -> None:
    assert commit_wait(COMMIT_INTERVAL, 0.0) == COMMIT_INTERVAL
    assert commit_wait(COMMIT_INTERVAL, COMMIT_INTERVAL * MAX_COMMIT_SHARE) == pytest.approx(COMMIT_INTERVAL)


def test_a_slow_commit_stretches_the_next_wait_so_commits_take_at_most_their_share() -> None:
    assert commit_wait(COMMIT_INTERVAL, 0.1) == pytest.approx(0.1 / MAX_COMMIT_SHARE)
    assert 0.1 / commit_wait(COMMIT_INTERVAL, 0.1) == pytest.approx(MAX_COMMIT_SHARE)


def test_the_wait_never_exceeds_its_bound() -> None:
    assert commit_wait(COMMIT_INTERVAL, 30.0) == MAX_COMMIT_WAIT
