"""The Review tab's handlers over a real store: what the page receives, what gets written, and by whom."""

from __future__ import annotations

import re
from typing import Any

import gradio as gr
import pytest

from blossom_studio import review
from blossom_studio.store import Store
from blossom_studio.ui import review_tab
from blossom_studio.ui.render import chat_messages
from blossom_studio.ui.review_tab import ReviewTab, build_review_tab
from blossom_studio.ui.studio import Studio
from tests.review.helpers import add_sample, add_verdict, pairwise, rating

QUEUE = ("pending", review_tab.ALL, review_tab.ALL, review_tab.ALL, 0)
XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))"]


def build(store: Store, *, shared: bool = False) -> tuple[gr.Blocks, ReviewTab]:
    with gr.Blocks() as demo:
        tab = build_review_tab(demo, Studio(store=store, shared=shared))
    return demo, tab


def user(name: str | None) -> gr.Request:
    return gr.Request(username=name)


def get(tab: ReviewTab, out: dict[Any, Any], name: str) -> Any:
    value = out[tab.components[name]]
    return value.get("value") if isinstance(value, dict) and value.get("__type__") == "update" else value


def visible(tab: ReviewTab, out: dict[Any, Any], name: str) -> bool | None:
    value = out[tab.components[name]]
    return value.get("visible") if isinstance(value, dict) else None


def postprocess_all(out: dict[Any, Any]) -> None:
    """Every value is one Gradio accepts for its component, as it would send it to the browser."""
    for block, value in out.items():
        if isinstance(value, dict) and value.get("__type__") == "update":
            if "value" not in value:
                continue
            value = value["value"]
        if isinstance(block, gr.State):
            continue
        block.postprocess(value)


def decide(tab: ReviewTab, name: str, current: str, verdict_id: str | None, *, reviewer: str | None = "alice",
           blind: bool = True, advance: bool = True, note: str = "") -> dict[Any, Any]:
    return tab.handlers[name](current, verdict_id, *QUEUE, blind, advance, note, user(reviewer))


@pytest.fixture
def judged(store: Store) -> Store:
    """Three pairwise samples (one split), one rating of four answers, one verify."""
    for sample in ("p1", "p2", "p3"):
        add_sample(store, sample)
    add_sample(store, "r1", answers=4)
    add_sample(store, "v1", answers=1)
    pairwise(store, "p1", "A")
    pairwise(store, "p2", "tie", split=True)
    pairwise(store, "p3", "B")
    rating(store, "r1", [2, 4.5, 3, 4])
    add_verdict(store, "v1", "verify", {"correct": False, "expected": "42", "found": "41", "method": "number"},
                judge="rule", parse_status="rule", candidate_ids=["v1-c0"])
    return store


def test_loading_shows_the_first_pending_item_blind(judged: Store) -> None:
    demo, tab = build(judged)
    out = tab.handlers["load"](*QUEUE, True)
    postprocess_all(out)
    assert get(tab, out, "current") == "p1" and get(tab, out, "sample_id") == "p1"
    assert get(tab, out, "counter") == "Item **1** of **5** · pending"
    assert get(tab, out, "prompt") == [{"role": "user", "content": "问题 p1: explain"}]
    assert get(tab, out, "answer_A") == [{"role": "assistant", "content": "answer 0 to p1"}]
    assert out[tab.components["answer_A"]]["label"] == "Answer A"
    assert out[tab.components["answer_B"]]["label"] == "Answer B"
    assert [visible(tab, out, f"choose_{n}") for n in range(1, 5)] == [True, True, False, False]
    assert [visible(tab, out, f"answer_{x}") for x in "ABCD"] == [True, True, False, False]
    assert "model-0" not in repr(out), "blind mode shows no model name"
    assert "**pairwise** by **judge\\-1**" in get(tab, out, "verdict") and "winner **A**" in get(tab, out, "verdict")
    assert "order 1, A then B: judge said A" in get(tab, out, "details")
    assert get(tab, out, "effective").startswith("Effective: **keep** · winner **A** · from the judge")
    assert get(tab, out, "edit_text") == "answer 0 to p1"
    assert out[tab.components["source"]]["choices"] == [review_tab.ALL, "test"]
    names = {fn.api_name for fn in demo.fns.values()}
    assert {"review_load", "review_accept", "review_choose_1", "review_next", "review_bulk_accept"} <= names


def test_blind_off_names_the_models(judged: Store) -> None:
    _, tab = build(judged)
    out = tab.handlers["redisplay"]("p1", *QUEUE, False)
    assert out[tab.components["answer_A"]]["label"] == "Answer A · model-0 · A · generate"
    assert "A = model\\-0, B = model\\-1" in get(tab, out, "verdict")
    assert "(model-0 then model-1)" in get(tab, out, "details")


def test_four_answers_show_four_columns_and_the_ratings(judged: Store) -> None:
    _, tab = build(judged)
    out = tab.handlers["open"]("r1", *QUEUE, True)
    postprocess_all(out)
    assert [visible(tab, out, f"choose_{n}") for n in range(1, 5)] == [True] * 4
    assert get(tab, out, "answer_D") == [{"role": "assistant", "content": "answer 3 to r1"}]
    details = get(tab, out, "details")
    assert "B: overall 4.5 · mean 4.5" in details and "pair: chosen B, rejected A, margin 2.5" in details
    chose = decide(tab, "choose_3", "r1", get(tab, out, "verdict_id"), advance=False)
    assert review.effective(judged, "r1").chosen == "r1-c2"
    assert "alice chose C on **r1**" in get(tab, chose, "status")


def test_deciding_records_the_reviewer_and_moves_on(judged: Store) -> None:
    _, tab = build(judged)
    out = tab.handlers["load"](*QUEUE, True)
    verdict_id = get(tab, out, "verdict_id")
    after = decide(tab, "choose_2", "p1", verdict_id, note="B is right")
    postprocess_all(after)
    row = judged.query("SELECT reviewer, action, verdict_id, note, payload->>'winner' FROM decisions")
    assert row == [("alice", "choose", verdict_id, "B is right", "B")]
    assert get(tab, after, "current") == "p2", "the next pending item opens"
    assert get(tab, after, "counter") == "Item **1** of **4** · pending"
    assert get(tab, after, "note") == ""
    stay = decide(tab, "tie", "p2", get(tab, after, "verdict_id"), reviewer=None, advance=False)
    assert get(tab, stay, "current") == "p2"
    assert get(tab, stay, "counter") == "Decided: no longer in the **pending** queue · 3 left"
    assert get(tab, stay, "effective") == "Effective: **keep** · winner **tie** · decided by local (tie)"
    assert [r[1:3] for r in get(tab, stay, "history")] == [["local", "called a tie"]]
    last = decide(tab, "accept", "v1", None)
    assert get(tab, last, "current") == "v1", "the last item stays open"
    assert get(tab, last, "status") == ("alice accepted the judge on **v1**. That was the last item of this queue.")
    assert get(tab, last, "effective") == "Effective: **reject** · decided by alice (accept)"
    refused = decide(tab, "choose_3", "p1", None)
    assert "not one of this sample's answers \\(A, B\\)" in get(tab, refused, "status")
    assert judged.query("SELECT count(*) FROM decisions")[0][0] == 3


def test_the_end_of_the_queue_keeps_the_last_item_open(judged: Store) -> None:
    _, tab = build(judged)
    out = tab.handlers["next"]("r1", *QUEUE, True)
    assert get(tab, out, "current") == "v1" and get(tab, out, "counter") == "Item **5** of **5** · pending"
    end = tab.handlers["next"]("v1", *QUEUE, True)
    assert get(tab, end, "current") == "v1" and "last item" in get(tab, end, "status")
    back = tab.handlers["previous"]("v1", *QUEUE, True)
    assert get(tab, back, "current") == "r1"
    ties = tab.handlers["change_queue"]("ties", review_tab.ALL, "pairwise", review_tab.ALL, 0, True)
    assert get(tab, ties, "current") == "p2" and get(tab, ties, "counter").endswith("ties · pairwise")
    empty = tab.handlers["change_queue"]("conflicts", review_tab.ALL, review_tab.ALL, review_tab.ALL, 0, True)
    postprocess_all(empty)
    assert get(tab, empty, "current") is None and "queue is empty" in get(tab, empty, "counter")
    missing = tab.handlers["open"]("nope", *QUEUE, True)
    assert "No sample with id **nope**" in get(tab, missing, "verdict")


def test_edit_note_undo_and_conflict(judged: Store) -> None:
    _, tab = build(judged)
    out = tab.handlers["open"]("p3", *QUEUE, True)
    verdict_id = get(tab, out, "verdict_id")
    assert get(tab, out, "edit_text") == "answer 1 to p3", "the edit box holds the chosen (B) answer"
    assert tab.handlers["pick_edit"]("p3", verdict_id, "A") == "answer 0 to p3"
    saved = tab.handlers["save_edit"]("p3", verdict_id, "A", "答案 $$x^2$$ revised", "", *QUEUE, True, user("bob"))
    postprocess_all(saved)
    assert out[tab.components["answer_A"]]["label"] == "Answer A"
    assert saved[tab.components["answer_A"]]["label"] == "Answer A (edited)"
    assert get(tab, saved, "answer_A") == [{"role": "assistant", "content": "答案 $$x^2$$ revised"}]
    assert [c.text for c in review.current_candidates(judged, "p3")] == ["答案 $$x^2$$ revised", "answer 1 to p3"]
    unchanged = tab.handlers["save_edit"]("p3", verdict_id, "A", "答案 $$x^2$$ revised", "", *QUEUE, True,
                                          user("bob"))
    assert "unchanged" in get(tab, unchanged, "status")
    noted = tab.handlers["save_note"]("p3", "单位不对", *QUEUE, True, user("bob"))
    assert get(tab, noted, "history")[0][1:4] == ["bob", "added a note", "单位不对"]

    decide(tab, "choose_1", "p3", verdict_id, reviewer="alice")
    shown = decide(tab, "choose_2", "p3", verdict_id, reviewer="bob", advance=False)
    assert get(tab, shown, "conflict") == ("⚠ Two reviewers disagree: alice chose A, bob chose B; "
                                           "latest wins (bob).")
    undone = tab.handlers["undo"](*QUEUE, True, user("bob"))
    assert get(tab, undone, "current") == "p3" and "Undid bob's choose" in get(tab, undone, "status")
    assert get(tab, undone, "conflict") == ""
    assert get(tab, undone, "history")[0][2:5] == ["undid a decision (choose)", "", ""]
    assert get(tab, undone, "history")[1][4] == "undone"
    nothing = tab.handlers["undo"](*QUEUE, True, user("carol"))
    assert get(tab, nothing, "status") == "carol has nothing left to undo."


def test_bulk_accept_asks_with_the_count_first(judged: Store) -> None:
    _, tab = build(judged)
    asked = tab.handlers["ask_bulk"]("pending", review_tab.ALL, "pairwise", review_tab.ALL, 0)
    assert asked[tab.components["bulk_box"]]["visible"] is True
    assert "**3 items** of the **pending · pairwise** queue" in get(tab, asked, "bulk_message")
    assert judged.query("SELECT count(*) FROM decisions")[0][0] == 0, "asking writes nothing"
    cancelled = tab.handlers["cancel_bulk"]()
    assert cancelled[tab.components["bulk_box"]]["visible"] is False
    done = tab.handlers["confirm_bulk"]("pending", review_tab.ALL, "pairwise", review_tab.ALL, 0, True, "",
                                        user("dora"))
    assert get(tab, done, "status") == "dora accepted the judge on 3 items."
    assert get(tab, done, "current") is None and "queue is empty" in get(tab, done, "counter")
    assert judged.query("SELECT reviewer, count(*) FROM decisions GROUP BY ALL") == [("dora", 3)]
    nothing = tab.handlers["ask_bulk"]("pending", review_tab.ALL, "pairwise", review_tab.ALL, 0)
    assert "Nothing to accept" in get(tab, nothing, "status")
    summary, agreement, bias, reviewers = tab.handlers["stats"]()
    assert summary == "Decided by people: **3** · judge only: **2** · conflicts: **0**"
    assert agreement == [] and bias == [["judge-1", 3, 1, "33%"], ["all", 3, 1, "33%"]]
    assert reviewers == [["dora", 3, 0, 0, 0]]


def test_shared_mode_refuses_every_write_without_a_user(judged: Store) -> None:
    _, tab = build(judged, shared=True)
    out = tab.handlers["load"](*QUEUE, True)
    verdict_id = get(tab, out, "verdict_id")
    anonymous = user(None)
    writes = [
        lambda: tab.handlers["accept"]("p1", verdict_id, *QUEUE, True, True, "", anonymous),
        lambda: tab.handlers["choose_2"]("p1", verdict_id, *QUEUE, True, True, "", anonymous),
        lambda: tab.handlers["reject"]("p1", verdict_id, *QUEUE, True, True, "", anonymous),
        lambda: tab.handlers["save_note"]("p1", "hello", *QUEUE, True, anonymous),
        lambda: tab.handlers["save_edit"]("p1", verdict_id, "A", "new text", "", *QUEUE, True, anonymous),
        lambda: tab.handlers["undo"](*QUEUE, True, anonymous),
        lambda: tab.handlers["confirm_bulk"](*QUEUE, True, "", anonymous),
    ]
    for write in writes:
        with pytest.raises(gr.Error, match="Sign in"):
            write()
    assert judged.query("SELECT count(*) FROM decisions")[0][0] == 0
    assert judged.query("SELECT count(*) FROM candidates WHERE origin = 'edit'")[0][0] == 0
    tab.handlers["accept"]("p1", verdict_id, *QUEUE, True, True, "", user("erin"))
    assert judged.query("SELECT reviewer, action FROM decisions") == [("erin", "accept")]


def test_hostile_text_never_reaches_the_page_as_live_html(store: Store) -> None:
    payload = " ".join(XSS)
    add_sample(store, "x1")
    with store.write() as cursor:
        cursor.execute("UPDATE candidates SET message = json_object('role', 'assistant', 'content', ?), model = ?",
                       [payload, payload])
        cursor.execute("UPDATE samples SET messages = json_array(json_object('role', 'user', 'content', ?)), "
                       "source = ?", [payload, payload])
    verdict = pairwise(store, "x1", "A", judge=payload)
    with store.write() as cursor:
        cursor.execute("UPDATE verdicts SET rationale = ?", [payload])
    _, tab = build(store)
    assert not any(isinstance(block, gr.HTML) for block in tab.components.values()), "no gr.HTML in the tab"
    for letter in "ABCD":
        chatbot = tab.components[f"answer_{letter}"]
        assert chatbot.sanitize_html is True and chatbot.allow_tags is False
    outputs = [
        tab.handlers["load"](*QUEUE, False),
        decide(tab, "choose_2", "x1", verdict, reviewer=payload, blind=False, advance=False, note=payload),
        tab.handlers["save_note"]("x1", payload, *QUEUE, False, user(payload)),
        decide(tab, "choose_1", "x1", verdict, reviewer="bob", blind=False, advance=False),
        tab.handlers["ask_bulk"]("all", payload, review_tab.ALL, review_tab.ALL, 0),
    ]
    # model text goes to Chatbots through the project's renderer (which makes it inert), or to plain-text Textboxes
    assert get(tab, outputs[0], "answer_A") == chat_messages([{"role": "assistant", "content": payload}])
    assert get(tab, outputs[0], "prompt") == chat_messages([{"role": "user", "content": payload}])
    assert payload in get(tab, outputs[0], "details")
    assert isinstance(tab.components["details"], gr.Textbox)
    live = re.compile(r"<script|<img|\]\(javascript:", re.I)
    seen_markdown = []
    for out in outputs:
        postprocess_all(out)
        for block, value in out.items():
            text = value.get("value") if isinstance(value, dict) else value
            if isinstance(block, gr.Markdown) and isinstance(text, str):
                assert not live.search(text), (block.elem_id, text)
                seen_markdown.append(text)
    assert any("&lt;script&gt;" in text for text in seen_markdown), "the hostile judge name is shown, escaped"
    conflict = get(tab, outputs[3], "conflict")
    assert conflict.startswith("⚠ Two reviewers disagree: &lt;script&gt;") and "latest wins (bob)" in conflict
    assert review_tab.md("[x](javascript:alert(1))") == r"\[x\]\(javascript\:alert\(1\)\)"


def test_the_shortcuts_click_buttons_that_exist(store: Store) -> None:
    _, tab = build(store)
    script = review_tab.shortcuts_js()
    ids = set(re.findall(r'"(review-[a-z0-9-]+)"', script))
    assert {"review-choose-1", "review-choose-4", "review-tie", "review-both-bad", "review-accept", "review-reject",
            "review-undo", "review-next", "review-prev", "review-root", "review-help-overlay"} <= ids
    elem_ids = {getattr(block, "elem_id", None) for block in tab.components.values()} | {"review-root"}
    assert ids - {"review-help-overlay"} <= elem_ids
    assert "#review-edit-text textarea" in script and "review-edit-text" in elem_ids
    for guard in ("event.ctrlKey", "event.altKey", "event.metaKey", "isContentEditable", "TEXTAREA", "isComposing",
                  "window.__blossomReviewShortcuts"):
        assert guard in script
    head = review_tab.shortcuts_head()
    assert head.startswith("<script>") and head.rstrip().endswith("</script>") and script in head
    documented = set(re.findall(r"``(review-[a-z0-9-]+)``", review_tab.__doc__ or ""))
    assert elem_ids - {None} <= documented | {"review-answer-a", "review-answer-b", "review-answer-c",
                                              "review-answer-d", "review-choose-2", "review-choose-3"}
