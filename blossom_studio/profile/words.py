"""Words of a text: jieba for runs of Han characters, letters-and-digits words for other scripts, `{{fields}}` whole."""

from __future__ import annotations

import logging
import multiprocessing
import re
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import TYPE_CHECKING

from blossom_studio.settings import cache_dir

if TYPE_CHECKING:
    import jieba

log = logging.getLogger(__name__)

_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_HAN = re.compile(f"[{_HAN_CLASS}]")
# A template field `{{name}}`, a run of Han characters, or a word of another script: letters and digits,
# joined by inner apostrophes or underscores (don't, snake_case), never Han or underscore at its ends.
_TOKEN = re.compile(
    r"\{\{\s*([^{}\s][^{}\n]{0,62}?)\s*\}\}"
    f"|([{_HAN_CLASS}]+)"
    f"|([^\\W_{_HAN_CLASS}]+(?:['’_][^\\W_{_HAN_CLASS}]+)*)"
)
_WORD = re.compile(
    r"\{\{\s*[^{}\s][^{}\n]{0,62}?\s*\}\}"
    f"|[^\\W_{_HAN_CLASS}]+(?:['’_][^\\W_{_HAN_CLASS}]+)*"
)
_LETTER = re.compile(r"[^\W\d_]")


def _wordset(text: str) -> frozenset[str]:
    """Return the space-separated words of `text` as a set."""
    return frozenset(text.split())


ZH_STOPWORDS = _wordset(
    "的 了 是 在 和 与 及 或 也 就 都 而 着 把 被 从 到 对 为 以 于 之 其 等 这 那 这个 那个 这些 那些 这样"
    " 有 没有 不 很 会 能 要 可以 可能 一个 一些 一种 我 你 您 他 她 它 我们 你们 他们 她们 自己 什么 怎么"
    " 如何 如果 因为 所以 但 但是 然后 并 并且 还 又 个 吗 呢 吧 啊 呀 让 给 说 上 中 下 里 将 已经 通过"
    " 进行 使用 需要 以及 就是 不是"
)
EN_STOPWORDS = _wordset(
    "the a an of to in on at by for from with without and or but not no nor so if then than as is are was were be"
    " been being am do does did done have has had having it its it's this that these those there here what which who"
    " whom whose when where why how i me my we us our you your he him his she her they them their can could will"
    " would should shall may might must also just into about over under more most some any all each other such only"
    " very s t can't don't i'm"
)
STOPWORDS = ZH_STOPWORDS | EN_STOPWORDS
MAX_STAT_CHARS = 32  # longer tokens (hashes, base64, URL pieces) count as words but stay out of the statistics

PARALLEL_MIN_CHARS = 400_000  # below this, starting worker processes costs more than it saves
CHUNK_CHARS = 200_000
SHARED_CHUNK_CHARS = 50_000  # ~0.1 s of Chinese: this process takes one at a time between handing out others
MAX_RUN = 4096  # longer Han runs are cut in slices: jieba's DAG of one run costs ~300 bytes a character

_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_cut: Callable[[str], list[str]] | None = None


def tokenizer() -> jieba.Tokenizer:
    """Return this process's jieba tokenizer, loading its dictionary (cached in settings.cache_dir()) on first use."""
    _han_cutter()
    return _tokenizer  # type: ignore[return-value]


def _han_cutter() -> Callable[[str], list[str]]:
    """Return the function that cuts one run of Han characters into words, creating the tokenizer once."""
    global _cut, _tokenizer
    if _cut is not None:
        return _cut
    with _lock:
        if _cut is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)  # jieba logs each dictionary load to stderr at DEBUG
            made = jieba.Tokenizer()
            folder = cache_dir()
            try:
                folder.mkdir(parents=True, exist_ok=True)
                made.tmp_dir = str(folder)
            except OSError as exc:
                log.warning("cannot create the cache folder %s (%s); jieba caches in the temp folder", folder, exc)
            made.initialize()
            # Accurate mode with HMM, jieba's default: on BELLE/COIG-Kun/CMATH it cost ~20% speed and finds the
            # names and new words that matter in a top-word list (小明, 张三, 新冠, 微信). Never paddle mode.
            _tokenizer, _cut = made, partial(made.lcut, HMM=True)
    return _cut


def _is_word(word: str) -> bool:
    """Tell whether a letters-and-digits match holds a letter (numbers alone are not words)."""
    if word.isalnum():
        return not word.isnumeric()
    return _LETTER.search(word) is not None


def _han_words(run: str) -> list[str]:
    """Return jieba's words of one run of Han characters, cut slice by slice if it is longer than MAX_RUN."""
    cut = _han_cutter()
    if len(run) <= MAX_RUN:
        return cut(run)
    return [word for start in range(0, len(run), MAX_RUN) for word in cut(run[start:start + MAX_RUN])]


def tokens(text: str) -> list[str]:
    """Return the words of `text` in order: jieba words, lowercase words of other scripts, `{{field}}` whole."""
    found: list[str] = []
    for match in _TOKEN.finditer(text):
        field, han, word = match.groups()
        if han is not None:
            found.extend(_han_words(han))
        elif word is not None:
            if _is_word(word):
                found.append(word.lower())
        else:
            found.append("{{" + field + "}}")
    return found


def count_words(text: str) -> int:
    """Return the number of words in `text`, the length of tokens(text) computed without building it."""
    if not _HAN.search(text):
        return sum(1 for word in _WORD.findall(text) if word[0] == "{" or _is_word(word))
    total = 0
    for match in _TOKEN.finditer(text):
        field, han, word = match.groups()
        if han is not None:
            total += len(_han_words(han))
        elif field is not None or _is_word(word):
            total += 1
    return total


def token_lang(token: str) -> str:
    """Return 'zh' for a token holding Han characters, else 'en'."""
    return "zh" if _HAN.search(token) else "en"


def is_stat_word(token: str) -> bool:
    """Tell whether a token belongs in the top-word statistics: not a stopword, a single Latin letter or overlong."""
    if token in STOPWORDS or len(token) > MAX_STAT_CHARS:
        return False
    return len(token) > 1 or not token.isascii()


def tally_samples(samples: Sequence[Sequence[str]]) -> tuple[list[list[int]], Counter[str]]:
    """Return the word count of each text of each sample, and in how many samples each statistics word occurs."""
    counts: list[list[int]] = []
    tally: Counter[str] = Counter()
    for texts in samples:
        seen: set[str] = set()
        entry_counts = []
        for text in texts:
            found = tokens(text)
            entry_counts.append(len(found))
            seen.update(found)
        counts.append(entry_counts)
        tally.update(token for token in seen if is_stat_word(token))
    return counts, tally


def _count_many(texts: Sequence[str]) -> list[int]:
    """Return count_words of each text (the unit of work a worker process runs)."""
    return [count_words(text) for text in texts]


def load_in_worker() -> None:
    """Load jieba's dictionary once in a worker process, before its first task."""
    _han_cutter()


def open_pool(workers: int) -> ProcessPoolExecutor:
    """Start `workers` spawned processes that each load jieba once (spawn: the caller may run threads)."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=load_in_worker)


def chunk_bounds(sizes: Sequence[int], target: int = CHUNK_CHARS) -> list[tuple[int, int]]:
    """Cut positions 0..len(sizes) into consecutive (start, end) ranges of about `target` total size each."""
    bounds: list[tuple[int, int]] = []
    start = filled = 0
    for position, size in enumerate(sizes):
        filled += size
        if filled >= target:
            bounds.append((start, position + 1))
            start, filled = position + 1, 0
    if start < len(sizes):
        bounds.append((start, len(sizes)))
    return bounds


def count_texts(texts: Sequence[str], workers: int = 2) -> list[int]:
    """Return count_words of each text, sharing large inputs between this process and `workers` - 1 others."""
    sizes = [len(text) for text in texts]
    total = sum(sizes)
    if workers <= 1 or total < PARALLEL_MIN_CHARS:
        return _count_many(texts)
    chunks = [texts[start:end] for start, end in chunk_bounds(sizes, min(SHARED_CHUNK_CHARS, total // 16 + 1))]
    pool = open_pool(workers - 1)
    try:
        parts = _share(chunks, pool, 2 * (workers - 1))
    except BrokenProcessPool:  # a worker died (out of memory, killed, or a main module without its __main__ guard)
        log.warning("a word-count worker process died; counting in this process")
        return _count_many(texts)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a worker still starting is not waited for
    return [count for part in parts for count in part]


def _share(chunks: list[Sequence[str]], pool: ProcessPoolExecutor, ahead: int) -> list[list[int]]:
    """Count chunks here from the back while the pool, once its workers are up, takes them from the front.

    A spawned worker needs ~1 s to start and load jieba; this process meanwhile counts, so a few megabytes are
    not slower than counting here alone, and nothing waits on a worker that is still starting.
    """
    parts: list[list[int]] = [[] for _ in chunks]
    front, back = 0, len(chunks)
    ready = pool.submit(int)  # done once a worker has started and loaded jieba
    running: dict[Future, int] = {}
    while front < back:
        if ready.done():
            for future in [future for future in running if future.done()]:
                parts[running.pop(future)] = future.result()
            while len(running) < ahead and front < back:
                running[pool.submit(_count_many, chunks[front])] = front
                front += 1
        if front < back:
            back -= 1
            parts[back] = _count_many(chunks[back])
    for future, index in running.items():
        parts[index] = future.result()
    return parts
