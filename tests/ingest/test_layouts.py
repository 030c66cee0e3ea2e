"""Every layout and variant the importer understands, from small inline records, checked on the stored sample."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blossom_studio.ingest import ImportReport, import_files
from blossom_studio.library import get_sample
from blossom_studio.store import Store

Record = dict[str, Any]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def system(text: str) -> dict[str, Any]:
    return {"role": "system", "content": text}


def cand(label: str, text: str, model: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"model": model, "label": label, "message": assistant(text), "extra": extra}


def write_jsonl(path: Path, records: list[Record]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def stored(store: Store) -> list[dict[str, Any]]:
    """Every stored sample in file order, as get_sample returns it."""
    samples = [get_sample(store, row[0]) for row in store.query("SELECT id FROM samples ORDER BY row_number")]
    assert all(s is not None for s in samples)
    return samples  # type: ignore[return-value]


def import_path(store: Store, path: Path, **options: Any) -> tuple[ImportReport, list[dict[str, Any]]]:
    [report] = import_files(store, [path], **options)
    assert report.error is None, report.error
    return report, stored(store)


def import_one(store: Store, tmp_path: Path, record: Record, *, name: str = "data.jsonl",
               **options: Any) -> dict[str, Any]:
    """Import one record from a JSONL file and return the stored sample (asserting it was imported cleanly)."""
    report, samples = import_path(store, write_jsonl(tmp_path / name, [record]), **options)
    assert (report.imported, report.bad, report.errors) == (1, 0, [])
    assert len(samples) == 1
    sample = samples[0]
    assert sample["row_number"] == 1
    assert sample["format"] == report.format
    return sample


def candidates_of(sample: dict[str, Any]) -> list[dict[str, Any]]:
    return [{k: c[k] for k in ("model", "label", "message", "extra")} for c in sample["candidates"]]


# --- Blossom and OpenAI chat -------------------------------------------------------------------------------


def test_blossom_chat(store: Store, tmp_path: Path) -> None:
    record = {"id": "b-1", "type": "chat", "failed": True,
              "metadata": {"source": "blossom-orca", "language": "zh"},
              "messages": [system("你是助手。"), user("你好"), assistant("你好！"), user("1+1?"), assistant("2")]}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "blossom"
    assert sample["messages"] == record["messages"]
    assert sample["source"] == "blossom-orca"  # the BlossomData metadata.source names the sample's source
    assert sample["source_id"] == "b-1"
    assert sample["metadata"] == {"source": "blossom-orca", "language": "zh", "failed": True}
    assert sample["reference"] is None
    assert sample["candidates"] == []
    assert store.query("SELECT turns, type FROM samples") == [(2, "chat")]


def test_blossom_chat_without_metadata_source_is_named_after_the_file(store: Store, tmp_path: Path) -> None:
    sample = import_one(store, tmp_path, {"type": "chat", "messages": [user("hi"), assistant("hello")]},
                        name="support_chats.jsonl")
    assert sample["format"] == "blossom"
    assert sample["source"] == "support_chats"
    assert sample["metadata"] == {}


def test_openai_messages_with_string_content(store: Store, tmp_path: Path) -> None:
    record = {"messages": [system("Be brief."), user("Capital of France?"), assistant("Paris.")],
              "split": "train", "score": 0.9}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "openai"
    assert sample["messages"] == record["messages"]
    assert sample["metadata"] == {"split": "train", "score": 0.9}
    assert sample["source_id"] is None


def test_openai_messages_with_content_parts(store: Store, tmp_path: Path) -> None:
    image = [{"type": "text", "text": "What is shown?"}, {"type": "image_url", "image_url": {"url": "x.png"}}]
    record = {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "text", "text": "the sky."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Blue."}], "weight": 1},
        {"role": "user", "content": image},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "a cat"},
        {"role": "assistant", "content": "A cat."},
    ]}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "openai"
    assert sample["messages"] == [
        user("Describe the sky."),  # text parts joined
        {"role": "assistant", "content": "Blue.", "weight": 1},  # extra per-message fields kept
        {"role": "user", "content": image},  # a non-text part keeps the part list as it is
        {"role": "assistant", "content": "", "tool_calls": record["messages"][3]["tool_calls"]},
        {"role": "tool", "content": "a cat", "tool_call_id": "c1"},
        assistant("A cat."),
    ]
    assert sample["metadata"] == {}


# --- ShareGPT and Firefly ----------------------------------------------------------------------------------


def test_sharegpt_with_top_level_system_and_tool_roles(store: Store, tmp_path: Path) -> None:
    tools = '[{"name": "weather", "parameters": {"type": "object"}}]'
    record = {"id": "sg-7", "system": "You can call tools.", "tools": tools, "conversations": [
        {"from": "human", "value": "Weather in Paris?"},
        {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Paris"}}'},
        {"from": "observation", "value": '{"temp": 21}'},
        {"from": "gpt", "value": "It is 21 degrees."},
    ]}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "sharegpt"
    assert sample["messages"] == [
        system("You can call tools."),
        user("Weather in Paris?"),
        {"role": "function_call", "content": '{"name": "weather", "arguments": {"city": "Paris"}}'},
        {"role": "observation", "content": '{"temp": 21}'},
        assistant("It is 21 degrees."),
    ]
    assert sample["source_id"] == "sg-7"
    assert sample["metadata"] == {"tools": tools}


def test_sharegpt_with_a_system_turn(store: Store, tmp_path: Path) -> None:
    record = {"conversations": [{"from": "system", "value": "S"}, {"from": "human", "value": "Q1"},
                                {"from": "gpt", "value": "A1"}, {"from": "human", "value": "Q2"},
                                {"from": "gpt", "value": "A2"}],
              "lang": "en"}
    sample = import_one(store, tmp_path, record)
    assert sample["messages"] == [system("S"), user("Q1"), assistant("A1"), user("Q2"), assistant("A2")]
    assert sample["metadata"] == {"lang": "en"}
    assert store.query("SELECT turns FROM samples") == [(2,)]


def test_firefly_conversation(store: Store, tmp_path: Path) -> None:
    record = {"conversation_id": 42, "category": "Brainstorming", "dataset": "moss",
              "conversation": [{"human": "给我三个名字", "assistant": "小明、小红、小刚"},
                               {"human": "再来一个", "assistant": "小丽"}]}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "firefly"
    assert sample["messages"] == [user("给我三个名字"), assistant("小明、小红、小刚"),
                                  user("再来一个"), assistant("小丽")]
    assert sample["metadata"] == {"conversation_id": 42, "category": "Brainstorming", "dataset": "moss"}


# --- Alpaca ------------------------------------------------------------------------------------------------


def test_alpaca_with_history_and_system(store: Store, tmp_path: Path) -> None:
    record = {"system": "You translate.", "instruction": "Translate to English", "input": "你好",
              "output": "Hello", "history": [["Hi", "Hi!"], ["Who are you?", "A translator."]],
              "category": "translation"}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "alpaca"
    assert sample["messages"] == [
        system("You translate."),
        user("Hi"), assistant("Hi!"),
        user("Who are you?"), assistant("A translator."),
        user("Translate to English\n你好"), assistant("Hello"),
    ]
    assert sample["metadata"] == {"category": "translation"}
    assert sample["reference"] is None


def test_alpaca_with_empty_input_is_the_instruction_alone(store: Store, tmp_path: Path) -> None:
    sample = import_one(store, tmp_path, {"instruction": "Name a color.", "input": "", "output": "Red."})
    assert sample["messages"] == [user("Name a color."), assistant("Red.")]
    assert sample["metadata"] == {}


def test_alpaca_with_null_input_and_history(store: Store, tmp_path: Path) -> None:
    """Files written from tables often hold nulls; a null input or history is simply absent."""
    sample = import_one(store, tmp_path, {"instruction": "Name a color.", "input": None, "output": "Red.",
                                          "history": None})
    assert sample["messages"] == [user("Name a color."), assistant("Red.")]
    assert sample["metadata"] == {}


def test_forced_alpaca_format(store: Store, tmp_path: Path) -> None:
    """With format_name='alpaca' every record is read as Alpaca, even one that auto-detection reads otherwise."""
    path = write_jsonl(tmp_path / "data.jsonl", [
        {"instruction": "Say hi", "output": "hi", "chosen": "x", "rejected": "y"},  # auto: a preference pair
        {"instruction": "No answer here"},  # auto: a prompt-only record
    ])
    report, samples = import_path(store, path, format_name="alpaca")
    assert report.format == "alpaca"
    assert (report.imported, report.bad) == (1, 1)
    assert report.errors == [{"line": 2, "reason": "field 'output': missing", "where": "line"}]
    assert samples[0]["messages"] == [user("Say hi"), assistant("hi")]
    assert samples[0]["metadata"] == {"chosen": "x", "rejected": "y"}
    assert samples[0]["candidates"] == []


def test_unknown_forced_format_is_refused(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format 'alpacca'"):
        import_files(store, [write_jsonl(tmp_path / "x.jsonl", [{"instruction": "a", "output": "b"}])],
                     format_name="alpacca")


# --- Prompt-only records -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["question", "prompt", "problem", "text", "instruction"])
def test_prompt_only_with_each_prompt_key(store: Store, tmp_path: Path, key: str) -> None:
    sample = import_one(store, tmp_path, {key: "What is 2 + 2?", "difficulty": "easy"})
    assert sample["format"] == "prompt"
    assert sample["messages"] == [user("What is 2 + 2?")]
    assert sample["reference"] is None
    assert sample["metadata"] == {"difficulty": "easy"}


@pytest.mark.parametrize("key", ["answer", "std_answer", "reference", "solution", "ground_truth"])
def test_prompt_with_each_reference_key(store: Store, tmp_path: Path, key: str) -> None:
    sample = import_one(store, tmp_path, {"question": "What is 2 + 2?", key: "4", "grade": 1})
    assert sample["format"] == "prompt"
    assert sample["messages"] == [user("What is 2 + 2?")]  # a reference is never an assistant turn
    assert sample["reference"] == "4"
    assert sample["metadata"] == {"grade": 1}


def test_prompt_instruction_with_input_and_no_output(store: Store, tmp_path: Path) -> None:
    sample = import_one(store, tmp_path, {"instruction": "Summarise:", "input": "A long text."})
    assert sample["format"] == "prompt"
    assert sample["messages"] == [user("Summarise:\nA long text.")]
    assert sample["metadata"] == {}


def test_prompt_query_response_with_history(store: Store, tmp_path: Path) -> None:
    """ChatGLM / LLaMA-Factory `query, response, history`: the history pairs are the earlier turns."""
    record = {"query": "And in French?", "response": "Bonjour.", "history": [["Say hello.", "Hello."]],
              "system": "You are a polyglot."}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "prompt"
    assert sample["messages"] == [system("You are a polyglot."), user("Say hello."), assistant("Hello."),
                                  user("And in French?"), assistant("Bonjour.")]
    assert sample["metadata"] == {}


def test_prompt_answer_is_the_reference_and_solution_stays_in_metadata(store: Store, tmp_path: Path) -> None:
    record = {"problem": "Compute $1+1$.", "solution": "$1+1=\\boxed{2}$", "answer": "2", "level": 1}
    sample = import_one(store, tmp_path, record)
    assert sample["reference"] == "2"
    assert sample["metadata"] == {"solution": "$1+1=\\boxed{2}$", "level": 1}


def test_prompt_with_a_numeric_reference_and_a_response(store: Store, tmp_path: Path) -> None:
    sample = import_one(store, tmp_path, {"prompt": "6 * 7?", "response": "42", "answer": 42})
    assert sample["messages"] == [user("6 * 7?"), assistant("42")]
    assert sample["reference"] == "42"


# --- Preference pairs --------------------------------------------------------------------------------------


def test_preference_strings_with_prompt_models_and_scores(store: Store, tmp_path: Path) -> None:
    record = {"prompt": "Write a haiku.", "chosen": "Old pond, frog jumps in.", "rejected": "No.",
              "chosen_model": "gpt-4", "rejected_model": "small-1b", "score_chosen": 9, "score_rejected": 2,
              "domain": "poetry"}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "preference"
    assert sample["messages"] == [user("Write a haiku.")]
    assert candidates_of(sample) == [cand("chosen", "Old pond, frog jumps in.", "gpt-4", {"rating": 9}),
                                     cand("rejected", "No.", "small-1b", {"rating": 2})]
    assert sample["metadata"] == {"domain": "poetry"}
    assert store.query("SELECT DISTINCT origin FROM candidates") == [("import",)]


def test_preference_sharegpt_objects_with_conversations(store: Store, tmp_path: Path) -> None:
    record = {"conversations": [{"from": "system", "value": "Be kind."}, {"from": "human", "value": "Hi"}],
              "chosen": {"from": "gpt", "value": "Hello! How can I help?"},
              "rejected": {"from": "gpt", "value": "What."}}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "preference"
    assert sample["messages"] == [system("Be kind."), user("Hi")]
    assert candidates_of(sample) == [cand("chosen", "Hello! How can I help?"), cand("rejected", "What.")]
    assert sample["metadata"] == {}


def test_preference_message_lists_share_the_prompt_as_prefix(store: Store, tmp_path: Path) -> None:
    prefix = [user("Tell me a joke."), assistant("Why did the chicken cross the road?"), user("Why?")]
    record = {"chosen": [*prefix, assistant("To get to the other side.")],
              "rejected": [*prefix, assistant("I don't know.")], "source": "hh-lists"}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "preference"
    assert sample["messages"] == prefix
    assert candidates_of(sample) == [cand("chosen", "To get to the other side."), cand("rejected", "I don't know.")]
    assert sample["source"] == "hh-lists"
    assert sample["metadata"] == {}


def test_preference_message_lists_with_a_prompt_string(store: Store, tmp_path: Path) -> None:
    """UltraFeedback-binarized: the prompt string repeats as the first message of both lists."""
    record = {"prompt": "2+2?", "prompt_id": "p1",
              "chosen": [user("2+2?"), assistant("4")], "rejected": [user("2+2?"), assistant("5")],
              "score_chosen": 10.0, "score_rejected": 1.0}
    sample = import_one(store, tmp_path, record)
    assert sample["messages"] == [user("2+2?")]
    assert candidates_of(sample) == [cand("chosen", "4", extra={"rating": 10.0}),
                                     cand("rejected", "5", extra={"rating": 1.0})]
    assert sample["metadata"] == {"prompt_id": "p1"}


def test_preference_prompt_string_is_the_last_turn_of_longer_lists(store: Store, tmp_path: Path) -> None:
    """Tulu 3 (and this studio's preference export): `prompt` is the last user turn, the lists hold the whole
    conversation before the answer (a system prompt, earlier turns)."""
    before = [system("Be brief."), user("hi"), assistant("hello"), user("2+2?")]
    record = {"prompt": "2+2?", "chosen": [*before, assistant("4")], "rejected": [*before, assistant("5")]}
    sample = import_one(store, tmp_path, record)
    assert sample["messages"] == before
    assert candidates_of(sample) == [cand("chosen", "4"), cand("rejected", "5")]


def test_preference_prompt_string_that_is_not_in_the_lists_is_refused(store: Store, tmp_path: Path) -> None:
    record = {"prompt": "3+3?", "chosen": [user("hi"), user("2+2?"), assistant("4")],
              "rejected": [user("hi"), user("2+2?"), assistant("5")]}
    [report] = import_files(store, [write_jsonl(tmp_path / "bad.jsonl", [record])])
    assert report.bad == 1 and "differs from the prompt" in report.errors[0]["reason"]


def test_preference_message_lists_with_a_top_level_system(store: Store, tmp_path: Path) -> None:
    record = {"system": "Answer in one word.",
              "chosen": [user("Sky colour?"), assistant("Blue.")],
              "rejected": [user("Sky colour?"), assistant("Green.")]}
    sample = import_one(store, tmp_path, record)
    assert sample["messages"] == [system("Answer in one word."), user("Sky colour?")]
    assert candidates_of(sample) == [cand("chosen", "Blue."), cand("rejected", "Green.")]


def test_preference_orca_pairs_with_system_and_input(store: Store, tmp_path: Path) -> None:
    """distilabel-intel-orca-dpo-pairs style: `system`, `input`, `chosen`, `rejected` strings."""
    record = {"system": "You are an AI assistant.", "input": "Is 7 prime?", "chosen": "Yes.", "rejected": "No.",
              "status": "tie"}
    sample = import_one(store, tmp_path, record)
    assert sample["messages"] == [system("You are an AI assistant."), user("Is 7 prime?")]
    assert candidates_of(sample) == [cand("chosen", "Yes."), cand("rejected", "No.")]
    assert sample["metadata"] == {"status": "tie"}


def test_preference_without_any_prompt_is_a_bad_record(store: Store, tmp_path: Path) -> None:
    record = {"system": "S", "chosen": "c", "rejected": "r"}
    report, samples = import_path(store, write_jsonl(tmp_path / "data.jsonl", [record]))
    assert (report.imported, report.bad) == (0, 1)
    assert report.errors[0]["reason"].startswith("no prompt found")
    assert samples == []


def test_preference_lists_with_different_prefixes_are_a_bad_record(store: Store, tmp_path: Path) -> None:
    record = {"chosen": [user("A?"), assistant("a")], "rejected": [user("B?"), assistant("b")]}
    report, samples = import_path(store, write_jsonl(tmp_path / "data.jsonl", [record]))
    assert (report.imported, report.bad) == (0, 1)
    assert "differs from the prompt" in report.errors[0]["reason"]
    assert samples == []


def test_preference_response_chosen_and_rejected(store: Store, tmp_path: Path) -> None:
    record = {"question": "Best sorting algorithm?", "response_chosen": "It depends on the data.",
              "response_rejected": "Bubble sort.", "annotator": "a3"}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "preference"
    assert sample["messages"] == [user("Best sorting algorithm?")]
    assert candidates_of(sample) == [cand("chosen", "It depends on the data."), cand("rejected", "Bubble sort.")]
    assert sample["metadata"] == {"annotator": "a3"}


def test_preference_output_pair_with_instruction(store: Store, tmp_path: Path) -> None:
    """LLaMA-Factory's older pairwise Alpaca: `output: [chosen, rejected]`."""
    record = {"instruction": "Fix the grammar:", "input": "he go home", "output": ["He goes home.", "he goes home"]}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "preference"
    assert sample["messages"] == [user("Fix the grammar:\nhe go home")]
    assert candidates_of(sample) == [cand("chosen", "He goes home."), cand("rejected", "he goes home")]
    assert sample["metadata"] == {}


def test_preference_hh_transcripts_share_the_earlier_turns(store: Store, tmp_path: Path) -> None:
    """Anthropic HH-RLHF: each side is a whole transcript; the shared earlier turns become the prompt."""
    earlier = "\n\nHuman: What is a good name for a cat?\n\nAssistant: Whiskers.\n\nHuman: Another one?"
    record = {"chosen": earlier + "\n\nAssistant: Mittens.",
              "rejected": earlier + "\n\nAssistant: I won't help with that."}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "preference"
    assert sample["messages"] == [user("What is a good name for a cat?"), assistant("Whiskers."),
                                  user("Another one?")]
    assert candidates_of(sample) == [cand("chosen", "Mittens."), cand("rejected", "I won't help with that.")]


def test_preference_answer_mentioning_human_and_assistant_is_not_split(store: Store, tmp_path: Path) -> None:
    """With a prompt field, an answer that quotes 'Human:' / 'Assistant:' is kept whole."""
    answer = "A transcript looks like:\n\nHuman: hi\n\nAssistant: hello"
    sample = import_one(store, tmp_path, {"prompt": "Show a transcript.", "chosen": answer, "rejected": "No."})
    assert candidates_of(sample) == [cand("chosen", answer), cand("rejected", "No.")]


# --- Completions -------------------------------------------------------------------------------------------


def test_completions_list(store: Store, tmp_path: Path) -> None:
    record = {"id": "task-3", "prompt": "Name a prime.", "completions": [
        {"model": "tulu_65B", "completion": "7"},
        {"model": "chatgpt", "response": "11", "annotations": {"helpfulness": {"Rating": "5"}}},
        "13",
    ], "split": "eval"}
    sample = import_one(store, tmp_path, record)
    assert sample["format"] == "completions"
    assert sample["messages"] == [user("Name a prime.")]
    assert sample["source_id"] == "task-3"
    assert candidates_of(sample) == [
        cand("completion-1", "7", "tulu_65B"),
        cand("completion-2", "11", "chatgpt", {"annotations": {"helpfulness": {"Rating": "5"}}}),
        cand("completion-3", "13"),
    ]
    assert sample["metadata"] == {"split": "eval"}
    assert store.query("SELECT position FROM candidates ORDER BY position") == [(0,), (1,), (2,)]


# --- User mappings -----------------------------------------------------------------------------------------


def test_mapping_of_top_level_fields(store: Store, tmp_path: Path) -> None:
    record = {"q": "What is H2O?", "a": "Water.", "ref": "water", "lang": "en", "tags": ["chem"]}
    sample = import_one(store, tmp_path, record, mapping={"prompt": "q", "response": "a", "reference": "ref"})
    assert sample["format"] == "mapped"
    assert sample["messages"] == [user("What is H2O?"), assistant("Water.")]
    assert sample["reference"] == "water"
    assert sample["metadata"] == {"lang": "en", "tags": ["chem"]}


def test_mapping_with_dotted_paths_keeps_unmapped_nested_fields(store: Store, tmp_path: Path) -> None:
    record = {"data": {"question": "1+1?", "gold": 2, "meta": {"difficulty": 1}}, "uid": "u-9",
              "origin": "quiz", "split": "dev"}
    mapping = {"prompt": "data.question", "reference": "data.gold", "id": "uid", "source": "origin"}
    sample = import_one(store, tmp_path, record, mapping=mapping)
    assert sample["messages"] == [user("1+1?")]
    assert sample["reference"] == "2"
    assert sample["source_id"] == "u-9"
    assert sample["source"] == "quiz"
    assert sample["metadata"] == {"data": {"meta": {"difficulty": 1}}, "split": "dev"}


def test_mapping_of_a_preference_pair(store: Store, tmp_path: Path) -> None:
    record = {"ask": "Pick a color.", "good": "Blue.", "bad": "", "sys": "Be short."}
    mapping = {"prompt": "ask", "chosen": "good", "rejected": "bad", "system": "sys"}
    sample = import_one(store, tmp_path, record, mapping=mapping)
    assert sample["messages"] == [system("Be short."), user("Pick a color.")]
    assert candidates_of(sample) == [cand("chosen", "Blue."), cand("rejected", "")]
    assert sample["metadata"] == {}


# --- Containers: CSV, TSV, gzip, Parquet --------------------------------------------------------------------


def test_csv_with_header(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "alpaca.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["instruction", "input", "output", "topic"])
        writer.writerow(["List two fruits, comma separated", "", "apple, pear", "food"])
        writer.writerow(["翻译成英文", "早上好", "Good morning\n(greeting)", "翻译"])
        writer.writerow(["Say yes", "", "yes", "misc"])
    report, samples = import_path(store, path)
    assert (report.file_type, report.format, report.imported, report.bad) == ("csv", "alpaca", 3, 0)
    assert [s["row_number"] for s in samples] == [2, 3, 5]  # the line where each row starts
    assert samples[0]["messages"] == [user("List two fruits, comma separated"), assistant("apple, pear")]
    assert samples[1]["messages"] == [user("翻译成英文\n早上好"), assistant("Good morning\n(greeting)")]
    assert [s["metadata"] for s in samples] == [{"topic": "food"}, {"topic": "翻译"}, {"topic": "misc"}]


def test_csv_with_a_json_messages_column(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "chats.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["messages", "split"])
        writer.writerow([json.dumps([user("hi"), assistant("hello")]), "train"])
    report, samples = import_path(store, path)
    assert (report.file_type, report.format) == ("csv", "openai")
    assert samples[0]["messages"] == [user("hi"), assistant("hello")]
    assert samples[0]["metadata"] == {"split": "train"}


def test_tsv_with_header(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "qa.tsv"
    path.write_text("question\tanswer\tgrade\n3 + 4 = ?\t7\t1\n甲有5个苹果，吃了2个，还剩几个？\t3\t2\n",
                    encoding="utf-8")
    report, samples = import_path(store, path)
    assert (report.file_type, report.format, report.imported) == ("tsv", "prompt", 2)
    assert samples[0]["messages"] == [user("3 + 4 = ?")]
    assert samples[0]["reference"] == "7"
    assert samples[0]["metadata"] == {"grade": "1"}  # CSV cells are text
    assert samples[1]["messages"] == [user("甲有5个苹果，吃了2个，还剩几个？")]
    assert samples[1]["reference"] == "3"


def test_gzip_jsonl(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "chat.jsonl.gz"
    records = [{"messages": [user("hi"), assistant("hello")]}, {"question": "2+2?", "answer": "4"}]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in records))
    report, samples = import_path(store, path)
    assert report.file_type == "jsonl+gzip"
    assert (report.imported, report.bad) == (2, 0)
    assert report.format == "mixed: openai, prompt" or report.format == "mixed: prompt, openai"
    assert [s["format"] for s in samples] == ["openai", "prompt"]
    assert samples[0]["messages"] == [user("hi"), assistant("hello")]
    assert samples[1]["messages"] == [user("2+2?")]
    assert samples[1]["reference"] == "4"
    assert samples[0]["source"] == "chat"


def test_parquet_written_with_pyarrow(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "pairs.parquet"
    table = pa.table({
        "prompt": ["Pick a number.", "Say hi in Chinese."],
        "chosen": ["7", "你好"],
        "rejected": ["banana", "hello"],
        "votes": [3, 5],
    })
    pq.write_table(table, path)
    report, samples = import_path(store, path)
    assert (report.file_type, report.format, report.imported, report.bad) == ("parquet", "preference", 2, 0)
    assert [s["row_number"] for s in samples] == [0, 1]  # the 0-based row index
    assert samples[1]["messages"] == [user("Say hi in Chinese.")]
    assert candidates_of(samples[1]) == [cand("chosen", "你好"), cand("rejected", "hello")]
    assert [s["metadata"] for s in samples] == [{"votes": 3}, {"votes": 5}]


def test_parquet_with_nested_messages(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "chat.parquet"
    pq.write_table(pa.table({"messages": [[user("hi"), assistant("hello")]], "id": [17]}), path)
    report, samples = import_path(store, path)
    assert (report.file_type, report.format, report.imported) == ("parquet", "openai", 1)
    assert samples[0]["messages"] == [user("hi"), assistant("hello")]
    assert samples[0]["source_id"] == "17"
