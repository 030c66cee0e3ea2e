"""The exported record of each format as a SELECT list over the working table, typed for each file type.

- blossom: BlossomData chat, `{id, type: "chat", metadata: {source, ...}, messages}` with messages as stored
  (reasoning_content kept).
- openai: `{messages}` (OpenAI fine-tuning; `reasoning_content` dropped).
- sharegpt: `{id, conversations: [{from: system|human|gpt|observation, value}]}`.
- alpaca: `{instruction, input, output, system, history}` (LLaMA-Factory's Alpaca; history is earlier
  [instruction, answer] pairs).
- preference: `{id, source, prompt, chosen, rejected, chosen_rating, rejected_rating, chosen_model, rejected_model,
  judge, margin, decided_by}`: Tulu 3 / UltraFeedback-binarized, chosen and rejected as whole message lists.

JSONL keeps messages as JSON; CSV writes every nested value as JSON text in its cell; Parquet writes message lists
as lists of {role, content} (content parts as JSON text) and metadata as JSON text.
"""

from __future__ import annotations

_STRIP_REASONING = "json_merge_patch(m, '{\"reasoning_content\": null}')"


def _text(m: str) -> str:
    """The text of message `m` (a JSON value): its content, or its content parts' text joined."""
    return f"""CASE json_type({m}, '$.content') WHEN 'VARCHAR' THEN json_extract_string({m}, '$.content')
    WHEN 'ARRAY' THEN array_to_string(json_extract_string({m}, '$.content[*].text'), '')
    ELSE coalesce(json_extract_string({m}, '$.content'), '') END"""


_SPEAKER = """CASE json_extract_string(m, '$.role') WHEN 'user' THEN 'human' WHEN 'assistant' THEN 'gpt'
    WHEN 'tool' THEN 'observation' WHEN 'function' THEN 'observation' ELSE json_extract_string(m, '$.role') END"""
_MESSAGE_STRUCT = """'[{"role": "VARCHAR", "content": "VARCHAR"}]'"""
_TURN_STRUCT = """'[{"from": "VARCHAR", "value": "VARCHAR"}]'"""


def _list(column: str, body: str) -> str:
    """A JSON array made of `body` applied to each element `m` of the JSON array `column`."""
    return f"to_json(list_transform(json_extract({column}, '$[*]'), lambda m: {body}))"


def _typed(expression: str, file_type: str, struct: str | None = None) -> str:
    """A JSON-valued expression as the file type wants it: JSON (jsonl), JSON text (csv), typed list (parquet)."""
    if file_type == "jsonl":
        return expression
    if file_type == "csv" or struct is None:
        return f"({expression})::VARCHAR"
    return f"from_json({expression}, {struct})"


def _non_system(column: str) -> str:
    return f"list_filter(json_extract({column}, '$[*]'), lambda m: json_extract_string(m, '$.role') <> 'system')"


def _alpaca(file_type: str) -> list[str]:
    body = _non_system("messages_out")
    history = (f"list_transform(range(1, len({body}) - 1, 2), lambda i: "
               f"[{_text(f'{body}[i]')}, {_text(f'{body}[i + 1]')}])")
    last_user = f"{body}[len({body}) - 1]"
    answer = f"{body}[len({body})]"
    system = ("array_to_string(list_transform(list_filter(json_extract(messages_out, '$[*]'), "
              f"lambda m: json_extract_string(m, '$.role') = 'system'), lambda m: {_text('m')}), chr(10) || chr(10))")
    history_value = history if file_type == "parquet" else _typed(f"to_json({history})", file_type)
    return [
        f"{_text(last_user)} AS instruction",
        "'' AS input",
        f"{_text(answer)} AS output",
        f"{system} AS system",
        f"{history_value} AS history",
    ]


def select_list(format_name: str, file_type: str) -> str:
    """Return the SELECT list that turns a working-table row into the format's record for the file type."""
    if format_name == "blossom":
        metadata = "json_merge_patch(coalesce(metadata, '{}'), json_object('source', source))"
        columns = ["id", "'chat' AS type", f"{_typed(metadata, file_type)} AS metadata",
                   f"{_typed('messages_out', file_type, _MESSAGE_STRUCT)} AS messages"]
    elif format_name == "openai":
        columns = [f"{_typed(_list('messages_out', _STRIP_REASONING), file_type, _MESSAGE_STRUCT)} AS messages"]
    elif format_name == "sharegpt":
        turns = _list("messages_out", f"json_object('from', {_SPEAKER}, 'value', {_text('m')})")
        columns = ["id", f"{_typed(turns, file_type, _TURN_STRUCT)} AS conversations"]
    elif format_name == "alpaca":
        columns = _alpaca(file_type)
    elif format_name == "preference":
        columns = ["id", "source", "prompt_text AS prompt",
                   f"{_typed('chosen_out', file_type, _MESSAGE_STRUCT)} AS chosen",
                   f"{_typed('rejected_out', file_type, _MESSAGE_STRUCT)} AS rejected",
                   "chosen_rating", "rejected_rating", "chosen_model", "rejected_model", "judge", "margin",
                   "decided_by"]
    else:
        raise ValueError(f"unknown format {format_name!r}")
    return ",\n       ".join(columns)
