"""A deterministic, DocETL-shaped workload: a pipeline run and a re-run.

The run saves what DocETL saves with ``intermediate_dir`` set:

    extract/summarize          map: adds a ~300-char ``summary`` and 3-6 ``themes``
                               (also flushed as 100-record batches while it runs:
                               ``summarize_batches/batch_<i>``, saved before the checkpoint)
    extract/filter_relevant    filter: ~70% of the records, unchanged (same dicts)
    analyze/unnest_themes      unnest on ``themes``: one row per theme, adds ``theme``;
                               rows of one document share the same ``str`` objects
                               (DocETL deep-copies the record, which keeps strs shared)
    analyze/classify           map: adds ``category`` and ``confidence`` (float)
    analyze/reduce_by_theme    reduce by theme: ``theme``, ~1 KB ``digest``, ``doc_ids``, ``count``

The re-run edits the text of 5% of the documents (chosen deterministically) and
saves every checkpoint and batch again under the same names. Its records are new
Python objects (as when a rerun reads its inputs again); values of unchanged
documents are equal to the run's, those derived from a changed document differ.

Documents are ``{"id", "title", "text", "source", "metadata": {"year", "tags", "lang"}}``
with ~8 KB of text drawn from a vocabulary of a few thousand generated words with
Zipf-like frequencies, so it compresses about 3x with zstd like real prose.

Everything is a function of ``(n, seed)``: the same arguments give the same
records on every machine and Python version (``random.Random`` seeded with ints
and strings is stable). Document ``i`` does not depend on ``n``, so a smaller
workload's documents are a prefix of a larger one's.

Used by ``benchmarks/footprint.py``, ``benchmarks/bench.py``, ``examples/demo.py``
and the tests::

    from workload import generate, apply_save, unique_content_estimate
    wl = generate(2000)
    for save in wl.saves():               # run, then re-run
        apply_save(manager, save)
    est = unique_content_estimate(wl.saves())
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

Record = dict[str, Any]

DEFAULT_N = 2000
DEFAULT_SEED = 20251126
BATCH_SIZE = 100
CHANGE_FRACTION = 0.05
KEEP_FRACTION = 0.70

# (step, op) of every checkpoint, in save order; the first op is also batched.
EXTRACT, ANALYZE = "extract", "analyze"
SUMMARIZE = "summarize"
CHECKPOINTS: list[tuple[str, str]] = [
    (EXTRACT, SUMMARIZE),
    (EXTRACT, "filter_relevant"),
    (ANALYZE, "unnest_themes"),
    (ANALYZE, "classify"),
    (ANALYZE, "reduce_by_theme"),
]
BATCHED_OP = SUMMARIZE

_VOCAB_SIZE = 4000
_PHRASE_BANK_SIZE = 100_000
_TOPIC_PHRASES = 150
_SHARED_PHRASES = 600
_ZIPF_S = 1.0

_ONSETS = ("b c d f g h j k l m n p r s t v w z br cl st tr sh ch th pl gr fl sp qu").split()
_VOWELS = "a e i o u ai ea ou io y ee oa".split()
_CODAS = ["", "", "", "n", "r", "s", "t", "l", "nd", "st", "ck", "m", "ng", "rt"]

THEMES = [
    "climate adaptation",
    "supply chains",
    "public health",
    "energy storage",
    "labor markets",
    "urban housing",
    "water rights",
    "digital privacy",
    "trade policy",
    "education access",
    "food security",
    "migration",
    "biodiversity",
    "financial regulation",
    "artificial intelligence",
    "transport infrastructure",
    "elections",
    "tax reform",
    "cybersecurity",
    "pension systems",
    "wildfires",
    "ocean fisheries",
    "antitrust",
    "vaccine logistics",
    "semiconductors",
    "rural broadband",
    "carbon markets",
    "drug pricing",
    "housing finance",
    "space launch",
]
CATEGORIES = [
    "policy",
    "science",
    "business",
    "society",
    "technology",
    "environment",
    "health",
    "economy",
]
SOURCES = [
    "newswire",
    "journal",
    "blog",
    "report",
    "transcript",
    "filing",
    "forum",
    "press-release",
]
TAGS = [
    "draft",
    "reviewed",
    "archived",
    "priority",
    "external",
    "internal",
    "scanned",
    "translated",
    "flagged",
    "long-form",
    "interview",
    "dataset",
]
LANGS = ["en"] * 8 + ["fr", "de"]


class Save(NamedTuple):
    """One save: ``("checkpoint", step, op, records)`` or ``("batch", op, index, records)``."""

    kind: str
    step_or_op: str
    name_or_index: str | int
    records: list[Record]


def apply_save(manager: Any, save: Save) -> str:
    """Send one save to a `CheckpointManager` (or anything with `save`/`save_batch`)."""
    if save.kind == "batch":
        return str(manager.save_batch(save.step_or_op, int(save.name_or_index), save.records))
    return str(manager.save(save.step_or_op, str(save.name_or_index), save.records))


# -- text ------------------------------------------------------------------


class _Language:
    """A generated vocabulary and a bank of phrases drawn from it with Zipf weights."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}:vocabulary")
        seen: set[str] = set()
        vocab: list[str] = []
        while len(vocab) < _VOCAB_SIZE:
            syllables = rng.choice((1, 2, 2, 2, 3, 3, 4))
            word = "".join(
                rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS)
                for _ in range(syllables)
            )
            if word not in seen:
                seen.add(word)
                vocab.append(word)
        vocab.sort(key=len)  # short words are the frequent ones, as in real text
        self.vocab = vocab
        self.cum_weights = list(
            itertools.accumulate(1.0 / (rank + 1) ** _ZIPF_S for rank in range(len(vocab)))
        )
        # One Zipf draw for the whole bank, cut into phrases of 2-7 words.
        lengths = [rng.randint(2, 7) for _ in range(_PHRASE_BANK_SIZE)]
        drawn = rng.choices(vocab, cum_weights=self.cum_weights, k=sum(lengths))
        bank: list[str] = []
        pos = 0
        for length in lengths:
            words = drawn[pos : pos + length]
            pos += length
            roll = rng.random()
            if roll < 0.25:
                words[0] = words[0].capitalize()
                words[-1] += rng.choice((".", ".", ".", "?", "!", ";", ":"))
            elif roll < 0.4:
                words[-1] += ","
            elif roll < 0.45:
                words.append(str(rng.randint(1, 2030)))
            bank.append(" ".join(words))
        self.bank = bank

    def words(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.vocab, cum_weights=self.cum_weights, k=k)

    def prose(self, rng: random.Random, n_chars: int) -> str:
        """About `n_chars` characters of text (phrases average ~23 characters).

        A text draws its phrases from two windows of the bank: a small one (its
        topic, so it repeats itself like real prose does) and a larger one shared
        in part with other texts. Tuned so that zstd -3 gets ~2x on one 8 KB
        text, ~2.9x on 1 MB and ~3.1x on the whole corpus.
        """
        bank = self.bank
        o1 = rng.randrange(len(bank) - _TOPIC_PHRASES)
        o2 = rng.randrange(len(bank) - _SHARED_PHRASES)
        pool = bank[o1 : o1 + _TOPIC_PHRASES] + bank[o2 : o2 + _SHARED_PHRASES]
        parts = rng.choices(pool, k=max(1, n_chars // 24))
        parts[0] = parts[0][:1].upper() + parts[0][1:]
        text = " ".join(parts)
        return text if text.endswith((".", "?", "!")) else text + "."

    def title(self, rng: random.Random) -> str:
        return " ".join(w.capitalize() for w in self.words(rng, rng.randint(3, 8)))


_LANGUAGES: dict[int, _Language] = {}


def _language(seed: int) -> _Language:
    if seed not in _LANGUAGES:
        _LANGUAGES[seed] = _Language(seed)
    return _LANGUAGES[seed]


# -- documents and operations -------------------------------------------------


def make_document(i: int, seed: int = DEFAULT_SEED, *, prefix: str = "doc") -> Record:
    """Document `i` of the corpus (independent of the corpus size)."""
    lang = _language(seed)
    rng = random.Random(f"{seed}:{prefix}:{i}")
    return {
        "id": f"{prefix}-{i:06d}",
        "title": lang.title(rng),
        "text": lang.prose(rng, rng.randint(6500, 9500)),
        "source": f"{rng.choice(SOURCES)}/{rng.randrange(10**6):06d}",
        "metadata": {
            "year": rng.randint(1995, 2025),
            "tags": rng.sample(TAGS, rng.randint(0, 4)),
            "lang": rng.choice(LANGS),
        },
    }


def edit_text(text: str, rng: random.Random, lang: _Language) -> str:
    """A revised text: one passage of ~400-1200 characters rewritten in place."""
    start = rng.randrange(0, max(1, len(text) - 1200))
    end = start + rng.randint(400, 1200)
    return text[:start] + lang.prose(rng, end - start) + " " + text[end:]


def _fresh(s: str) -> str:
    """An equal str that is a different object (as re-reading an input gives)."""
    return s.encode().decode()


def _version_tag(doc: Record, versions: dict[str, int]) -> str:
    return f"{doc['id']}@{versions.get(doc['id'], 0)}"


def op_summarize(docs: list[Record], seed: int, versions: dict[str, int]) -> list[Record]:
    lang = _language(seed)
    out = []
    for doc in docs:
        rng = random.Random(f"{seed}:summary:{_version_tag(doc, versions)}")
        summary = lang.prose(rng, rng.randint(260, 340))
        themes = rng.sample(THEMES, rng.randint(3, 6))
        out.append({**doc, "summary": summary, "themes": themes})
    return out


def op_filter(records: list[Record], seed: int) -> list[Record]:
    # The decision depends on the document id only, so a rerun keeps the same set.
    return [r for r in records if random.Random(f"{seed}:keep:{r['id']}").random() < KEEP_FRACTION]


def op_unnest(records: list[Record]) -> list[Record]:
    return [{**r, "theme": theme} for r in records for theme in r["themes"]]


def op_classify(rows: list[Record], seed: int, versions: dict[str, int]) -> list[Record]:
    out = []
    doc_id = None
    rng = random.Random()
    for row in rows:
        if row["id"] != doc_id:  # the rows of one document are consecutive
            doc_id = row["id"]
            rng = random.Random(f"{seed}:classify:{_version_tag(row, versions)}")
        out.append(
            {
                **row,
                "category": rng.choice(CATEGORIES),
                "confidence": round(rng.uniform(0.35, 0.99), 3),
            }
        )
    return out


def op_reduce(rows: list[Record], seed: int, versions: dict[str, int]) -> list[Record]:
    lang = _language(seed)
    groups: dict[str, list[Record]] = {}
    for row in rows:
        groups.setdefault(row["theme"], []).append(row)
    out = []
    for theme in sorted(groups):
        members = groups[theme]
        changed = sorted(r["id"] for r in members if versions.get(r["id"], 0))
        rng = random.Random(f"{seed}:reduce:{theme}:{','.join(changed)}")
        out.append(
            {
                "theme": theme,
                "digest": lang.prose(rng, rng.randint(900, 1150)),
                "doc_ids": [r["id"] for r in members],
                "count": len(members),
            }
        )
    return out


def pipeline(docs: list[Record], seed: int, versions: dict[str, int]) -> list[Save]:
    """The saves of one run of the pipeline over `docs`, in the order DocETL makes them."""
    saves: list[Save] = []
    summarized = op_summarize(docs, seed, versions)
    for b in range((len(summarized) + BATCH_SIZE - 1) // BATCH_SIZE):
        saves.append(
            Save("batch", BATCHED_OP, b, summarized[BATCH_SIZE * b : BATCH_SIZE * (b + 1)])
        )
    saves.append(Save("checkpoint", EXTRACT, SUMMARIZE, summarized))
    kept = op_filter(summarized, seed)
    saves.append(Save("checkpoint", EXTRACT, "filter_relevant", kept))
    unnested = op_unnest(kept)
    saves.append(Save("checkpoint", ANALYZE, "unnest_themes", unnested))
    classified = op_classify(unnested, seed, versions)
    saves.append(Save("checkpoint", ANALYZE, "classify", classified))
    reduced = op_reduce(classified, seed, versions)
    saves.append(Save("checkpoint", ANALYZE, "reduce_by_theme", reduced))
    return saves


@dataclass
class Workload:
    """The saves of a run and of a re-run over `n` documents."""

    n: int
    seed: int
    run: list[Save]
    rerun: list[Save]
    changed_ids: list[str] = field(default_factory=list)

    def saves(self) -> Iterator[Save]:
        """Every save, run then re-run."""
        yield from self.run
        yield from self.rerun

    def final(self) -> list[Save]:
        """What is live after the re-run: its saves (same names as the run's)."""
        return list(self.rerun)

    def largest_checkpoint(self) -> tuple[str, str]:
        """The (step, op) checkpoint with the most rows, then the most columns."""
        cps = [s for s in self.rerun if s.kind == "checkpoint"]
        best = max(cps, key=lambda s: (len(s.records), len(s.records[0]) if s.records else 0))
        return best.step_or_op, str(best.name_or_index)

    def logical_records(self) -> int:
        return sum(len(s.records) for s in self.saves())


def generate(
    n: int = DEFAULT_N, seed: int = DEFAULT_SEED, change_fraction: float = CHANGE_FRACTION
) -> Workload:
    """The workload over `n` documents: the saves of a run and of a re-run."""
    lang = _language(seed)
    docs = [make_document(i, seed) for i in range(n)]
    run = pipeline(docs, seed, {})

    pick = random.Random(f"{seed}:changes:{n}")
    changed = sorted(pick.sample(range(n), round(n * change_fraction)))
    versions = {docs[i]["id"]: 1 for i in changed}
    redocs = []
    for doc in docs:
        new = {k: (_fresh(v) if isinstance(v, str) else v) for k, v in doc.items()}
        new["metadata"] = json.loads(json.dumps(doc["metadata"]))
        if doc["id"] in versions:
            new["text"] = edit_text(doc["text"], random.Random(f"{seed}:edit:{doc['id']}"), lang)
        redocs.append(new)
    rerun = pipeline(redocs, seed, versions)
    return Workload(n, seed, run, rerun, [docs[i]["id"] for i in changed])


def saves(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> Iterator[Save]:
    """Every save of the run, then of the re-run.

    Each is a `Save`: (kind, step_or_op, name_or_index, records).
    """
    return generate(n, seed).saves()


def fresh_batch(tag: int, seed: int = DEFAULT_SEED, size: int = BATCH_SIZE) -> list[Record]:
    """`size` summarized records of documents that appear nowhere else in the workload.

    For measuring the cost of saving a batch of entirely new content, first into
    an empty store and late into a full one.
    """
    docs = [make_document(i, seed, prefix=f"fresh{tag}") for i in range(size)]
    return op_summarize(docs, seed, {})


# -- sizes -------------------------------------------------------------------


def _value_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


def unique_content(saves_: Iterable[Save]) -> tuple[list[bytes], int, int]:
    """The distinct top-level field values of all saves, in first-seen order.

    Strings count by their raw UTF-8, other values by their `json.dumps`; equal
    values count once wherever they appear. Returns (values, logical value
    count, logical bytes).
    """
    seen_str: set[str] = set()
    seen_json: set[str] = set()
    values: list[bytes] = []
    dumped: dict[int, str] = {}
    alive: list[Any] = []
    logical = logical_bytes = 0
    for save in saves_:
        for record in save.records:
            for value in record.values():
                logical += 1
                if isinstance(value, str):
                    logical_bytes += len(value)
                    if value not in seen_str:
                        seen_str.add(value)
                        values.append(value.encode())
                else:
                    # unnest rows share their lists and dicts: dump each object once
                    text = dumped.get(id(value)) if isinstance(value, (list, dict)) else None
                    if text is None:
                        text = json.dumps(value)
                        if isinstance(value, (list, dict)):
                            dumped[id(value)] = text
                            alive.append(value)  # keeps the id from being reused
                    logical_bytes += len(text)
                    if text not in seen_json:
                        seen_json.add(text)
                        values.append(text.encode())
    return values, logical, logical_bytes


def unique_content_estimate(saves_: Iterable[Save], level: int = 3) -> dict[str, int]:
    """The floor a value-deduplicating store can reach: zstd (level 3) of the
    distinct top-level field values concatenated.

    Returns ``{"bytes", "raw_bytes", "distinct_values", "logical_values"}``.
    """
    import zstandard  # the estimate's one dependency beyond the standard library

    values, logical, _ = unique_content(saves_)
    raw = b"".join(values)
    compressed = zstandard.ZstdCompressor(level=level).compress(raw)
    return {
        "bytes": len(compressed),
        "raw_bytes": len(raw),
        "distinct_values": len(values),
        "logical_values": logical,
    }


def json_layout_bytes(saves_: Iterable[Save]) -> int:
    """Bytes DocETL's JSON layout would hold for these saves: `len(json.dumps)` each."""
    return sum(len(json.dumps(s.records)) for s in saves_)


def describe(wl: Workload) -> str:
    lines = [f"workload: n={wl.n} seed={wl.seed} changed docs in re-run={len(wl.changed_ids)}"]
    for phase, saves_ in (("run", wl.run), ("rerun", wl.rerun)):
        batches = [s for s in saves_ if s.kind == "batch"]
        lines.append(
            f"  {phase}: {len(batches)} batches of {BATCHED_OP} "
            f"({sum(len(s.records) for s in batches)} records)"
        )
        for s in saves_:
            if s.kind == "checkpoint":
                lines.append(f"    {s.step_or_op}/{s.name_or_index}: {len(s.records)} records")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--estimate",
        action="store_true",
        help="also compute the unique-content estimate and JSON layout size",
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    wl = generate(args.n, args.seed)
    print(describe(wl))
    print(f"generated in {time.perf_counter() - t0:.2f} s")
    if args.estimate:
        t0 = time.perf_counter()
        est = unique_content_estimate(wl.saves())
        print(
            f"unique-content estimate: {est['bytes'] / 1e6:.2f} MB zstd-3 of "
            f"{est['raw_bytes'] / 1e6:.2f} MB raw ({est['raw_bytes'] / est['bytes']:.2f}x), "
            f"{est['distinct_values']} distinct of {est['logical_values']} values "
            f"({time.perf_counter() - t0:.2f} s)"
        )
        print(f"JSON layout after run + re-run: {json_layout_bytes(wl.final()) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
