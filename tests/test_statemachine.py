"""Model-based test (issue 5): random sequences of save / overwrite / copy / delete /
save_batch / delete_batches / gc / clear / reopen against a dict model, checking
every load, list(), list_batches(), load_batch() and verify() after each step;
and (issue 15) every checkpoint's versions, pins and retention against a model
of its history."""

from __future__ import annotations

import json
import shutil
import tempfile
from typing import Any

from docetl_checkpoint import CheckpointManager
from helpers.data import make_pool
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

Key = tuple[str, str]
STEPS = ("s0", "s1")
OPS = ("a", "b", "c")
BATCH_OPS = ("m", "n")
INDEXES = (0, 1, 2)
POOL = make_pool("statemachine", n=4, lo=5_000, hi=20_000)  # large values shared across saves


class Big:
    """A large pool value, drawn by index so that hypothesis prints it short."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"POOL[{self.index}]"


def real(value: Any) -> Any:
    """The JSON-like value a drawn template stands for."""
    if isinstance(value, Big):
        return POOL[value.index]
    if isinstance(value, list):
        return [real(v) for v in value]
    if isinstance(value, dict):
        return {k: real(v) for k, v in value.items()}
    return value


text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
    | st.builds(Big, st.integers(0, len(POOL) - 1))
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
records = st.lists(
    st.dictionaries(st.sampled_from(["id", "text", "summary", "n"]) | text, values, max_size=5),
    max_size=4,
)


def batch_key(op: str, index: int) -> Key:
    return f"{op}_batches", f"batch_{index}"


UNIVERSE = [(s, o) for s in STEPS for o in OPS] + [
    batch_key(b, i) for b in BATCH_OPS for i in INDEXES
]


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="docetl-checkpoint-sm-")
        self.mgr = CheckpointManager(self.dir)
        self.model: dict[Key, str] = {}  # key -> json.dumps of the records
        # checkpoint -> its kept versions, oldest first: [number, records json, pinned]
        self.versions: dict[Key, list[list[Any]]] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def checkpoints(self) -> list[Key]:
        return sorted(k for k in self.model if not k[0].endswith("_batches"))

    def saved(self, key: Key, dumped: str) -> None:
        """A save of a checkpoint: a new version unless the live one holds the same."""
        kept = self.versions.setdefault(key, [])
        if self.model.get(key) != dumped:
            kept.append([max((v[0] for v in kept), default=0) + 1, dumped, False])
        self.model[key] = dumped

    def retain(self, keep: int) -> None:
        """gc's policy: per checkpoint the newest state (live version or deletion)
        and the keep - 1 newest earlier versions stay, and every pinned one."""
        for key, kept in self.versions.items():
            live = kept[-1] if key in self.model else None
            earlier = [v for v in kept if v is not live]
            stay = (
                {id(v) for v in earlier[max(0, len(earlier) - (keep - 1)) :]} if keep > 1 else set()
            )
            kept[:] = [v for v in kept if v is live or v[2] or id(v) in stay]

    @rule(step=st.sampled_from(STEPS), op=st.sampled_from(OPS), recs=records)
    def save(self, step: str, op: str, recs: list[dict[str, Any]]) -> None:
        self.mgr.save(step, op, real(recs))
        self.saved((step, op), json.dumps(real(recs)))

    @precondition(lambda self: self.checkpoints())
    @rule(data=st.data(), recs=records)
    def overwrite(self, data: st.DataObject, recs: list[dict[str, Any]]) -> None:
        key = data.draw(st.sampled_from(self.checkpoints()))
        self.mgr.save(*key, real(recs))
        self.saved(key, json.dumps(real(recs)))

    @precondition(lambda self: self.model)
    @rule(data=st.data(), step=st.sampled_from(STEPS), op=st.sampled_from(OPS))
    def copy(self, data: st.DataObject, step: str, op: str) -> None:
        """Save records identical to another checkpoint's (whole-checkpoint dedup)."""
        src = data.draw(st.sampled_from(sorted(self.model)))
        self.mgr.save(step, op, json.loads(self.model[src]))
        self.saved((step, op), self.model[src])

    @rule(step=st.sampled_from(STEPS), op=st.sampled_from(OPS))
    def delete(self, step: str, op: str) -> None:
        assert self.mgr.delete(step, op) is ((step, op) in self.model)
        self.model.pop((step, op), None)

    @rule(op=st.sampled_from(BATCH_OPS), index=st.sampled_from(INDEXES), recs=records)
    def save_batch(self, op: str, index: int, recs: list[dict[str, Any]]) -> None:
        self.mgr.save_batch(op, index, real(recs))
        self.model[batch_key(op, index)] = json.dumps(real(recs))

    @rule(op=st.sampled_from(BATCH_OPS))
    def delete_batches(self, op: str) -> None:
        mine = [k for k in self.model if k[0] == f"{op}_batches"]
        assert self.mgr.delete_batches(op) == len(mine)
        for k in mine:
            del self.model[k]

    @rule(keep=st.sampled_from([None, 1, 2, 5]))
    def gc(self, keep: int | None) -> None:
        report = self.mgr.gc() if keep is None else self.mgr.gc(keep_versions=keep)
        for k in ("files_removed", "values_removed"):
            assert isinstance(report[k], int) and report[k] >= 0
        assert isinstance(report["bytes_freed"], int)  # a net change: may be below 0
        self.retain(5 if keep is None else keep)

    @precondition(lambda self: any(self.versions.values()))
    @rule(data=st.data(), pinned=st.booleans())
    def pin(self, data: st.DataObject, pinned: bool) -> None:
        key = data.draw(st.sampled_from(sorted(k for k, v in self.versions.items() if v)))
        version = data.draw(st.sampled_from(self.versions[key]))
        call = self.mgr.pin if pinned else self.mgr.unpin
        assert call(*key, version[0]) is True
        version[2] = pinned

    @precondition(lambda self: len(self.model) >= 4)
    @rule()
    def clear(self) -> None:
        assert self.mgr.clear() == len(self.model)
        self.model.clear()
        self.versions.clear()

    @rule()
    def reopen(self) -> None:
        self.mgr = CheckpointManager(self.dir)

    @invariant()
    def store_matches_model(self) -> None:
        for key in UNIVERSE:
            got = self.mgr.load(*key)
            want = self.model.get(key)
            if want is None:
                assert got is None, f"{key} was deleted or never saved but loads records"
            else:
                assert got is not None and json.dumps(got) == want, (
                    f"{key} loads {got!r}, saved {want}"
                )
        assert self.mgr.list() == self.checkpoints()
        for op in BATCH_OPS:
            indexes = sorted(i for i in INDEXES if batch_key(op, i) in self.model)
            assert self.mgr.list_batches(op) == indexes
            for i in indexes:
                assert json.dumps(self.mgr.load_batch(op, i)) == self.model[batch_key(op, i)]
            assert [json.dumps(b) for b in self.mgr.load_batches(op)] == [
                self.model[batch_key(op, i)] for i in indexes
            ]
        report = self.mgr.verify()
        assert report["ok"] is True and report["damaged"] == [], report

    @invariant()
    def history_matches_model(self) -> None:
        for key in UNIVERSE:
            if key[0].endswith("_batches"):
                continue
            kept = self.versions.get(key, [])
            got = self.mgr.versions(*key)
            assert [(v["version"], v["pinned"]) for v in got] == [(n, p) for n, _, p in kept]
            assert [v["latest"] for v in got] == [
                key in self.model and i == len(kept) - 1 for i in range(len(kept))
            ]
            for number, dumped, _ in kept:
                assert json.dumps(self.mgr.load(*key, version=number)) == dumped, (key, number)


TestStoreMachine = StoreMachine.TestCase
TestStoreMachine.settings = settings(
    max_examples=25,
    stateful_step_count=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
