"""One review item: what the Review tab shows for a sample."""

from __future__ import annotations

from blossom_studio import review
from blossom_studio.store import Store
from tests.review.helpers import add_sample, add_verdict, pairwise


def test_load_item_gathers_what_the_tab_shows(store: Store) -> None:
    add_sample(store, "s1", final="原来的回答")
    add_verdict(store, "s1", "quality", {"flags": ["too_short"]}, judge="rule", parse_status="rule")
    verdict = pairwise(store, "s1", "B")
    review.decide(store, "s1", "choose", reviewer="alice", winner="A")
    item = review.load_item(store, "s1")
    assert item is not None and item.source == "test" and item.messages[0]["content"].startswith("问题")
    assert item.verdict.id == verdict and item.verdict.details["orders"][0]["verdict"] == "B"
    assert [v.kind for v in item.verdicts] == ["pairwise", "quality"]
    assert [s.letter for s in item.slots] == ["A", "B"] and item.effective.winner == "A"
    assert [d.action for d in item.history] == ["choose"]
    assert review.load_item(store, "missing") is None
