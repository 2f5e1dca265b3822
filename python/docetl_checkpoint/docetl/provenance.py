"""What a checkpoint was computed from, and why it is (not) reusable now.

DocETL's op hash is a chain: the hash of an operation covers the pipeline's
system prompt, the step's input (a dataset's config, or the final hash of an
earlier step), and the config of every operation of the step up to and
including it (`docetl/graph_builder.py`, `compute_operation_hashes`). A hash
alone says *that* something changed. To say *what*, each checkpoint records
its provenance (meta `docetl_provenance`, JSON):

- `config`: the operation's own config as DocETL hashed it (the effective
  model filled in);
- `upstream`: what it reads, as DocETL's hash chain sees it: the previous
  operation of its step (`{"step", "op", "hash"}`), or for the first
  operation the step's input: an earlier step's last operation, or a dataset
  (`{"dataset", "digest"}` plus its `config` when small); both sides of an
  equijoin;
- `system_prompt`: on the first operation of a step only (later operations
  inherit it through their upstream hash).

`Checker.reasons(step, op)` then follows `CheckpointStore.load`'s rules and
returns why the checkpoint cannot be reused (empty: it can), each reason
naming what changed. The same text is stored with each checkpoint a run
writes (meta `docetl_reasons`), printed while the runner works, and shown by
`docetl-checkpoint plan` and `info`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from docetl_checkpoint.docetl.folders import META_INPUTS, META_OP_HASH
from docetl_checkpoint.docetl.inputs import Digests, decode

META_PROVENANCE = "docetl_provenance"
META_REASONS = "docetl_reasons"

Provenance = dict[str, Any]
OpKey = tuple[str, str]

# a dataset config longer than this (an in-memory dataset holds its records)
# is recorded by digest only
_CONFIG_INLINE = 2000
_SHORT = 60

NO_CHECKPOINT = "no checkpoint yet"
BYPASS_PIPELINE = "bypass_cache is set for the pipeline"
BYPASS_OP = "bypass_cache is set on the operation"


def _canonical(value: Any) -> str:
    # exactly how DocETL serializes what it hashes
    return json.dumps(value, sort_keys=True, default=str)


def _plain(value: Any) -> Any:
    """`value` as DocETL's hash sees it: through JSON, unknown objects as str."""
    return json.loads(_canonical(value))


def op_ref_name(entry: Any) -> str:
    # a step's operations entry: a name, or an equijoin {name: {left, right}}
    return entry if isinstance(entry, str) else next(iter(entry))


def snapshot(runner: Any) -> dict[OpKey, Provenance]:
    """(step, op) -> provenance of every operation DocETL hashes, from `runner`'s config."""
    hashes = runner.step_op_hashes
    datasets = runner.config.get("datasets", {}) or {}
    system_prompt = _plain(runner.pipeline.other_config.get("system_prompt", {}))
    tails: dict[str, dict[str, Any] | None] = {}  # step -> what its last operation is

    def effective(name: str) -> Any:
        cfg = runner._op_map[name]
        return _plain(cfg if "model" in cfg else {**cfg, "model": runner.default_model})

    def source(name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        if name in tails:  # an earlier step wins over a dataset, as in DocETL
            return tails[name] or {"step": name}
        text = _canonical(datasets.get(name))
        token: dict[str, Any] = {
            "dataset": name,
            "digest": hashlib.sha256(text.encode()).hexdigest(),
        }
        if len(text) <= _CONFIG_INLINE:
            token["config"] = json.loads(text)
        return token

    out: dict[OpKey, Provenance] = {}
    for step in runner.pipeline.steps:
        prev: dict[str, Any] | None = None
        for entry in step.operations or []:
            name = op_ref_name(entry)
            if not isinstance(entry, str):
                join = entry[name] or {}
                upstream = [source(join.get("left")), source(join.get("right"))]
            elif prev is not None:
                upstream = [prev]
            else:
                upstream = [source(step.input)]
            prov: Provenance = {
                "config": effective(name),
                "upstream": [u for u in upstream if u is not None],
            }
            if prev is None:
                prov["system_prompt"] = system_prompt
            out[(step.name, name)] = prov
            prev = {"step": step.name, "op": name, "hash": hashes.get(step.name, {}).get(name)}
        tails[step.name] = prev
    return out


def encode(prov: Provenance) -> str:
    # ASCII: a config may hold lone surrogates, which the store's str meta cannot carry
    return json.dumps(prov, sort_keys=True, separators=(",", ":"))


def decode_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def recorded_reasons(meta: dict[str, str] | None) -> list[str] | None:
    """The reasons stored with a checkpoint, or None when it has none."""
    value = decode_json((meta or {}).get(META_REASONS))
    if isinstance(value, list) and all(isinstance(r, str) for r in value):
        return value
    return None


# -- text ------------------------------------------------------------------


_UNSET: Any = object()  # a key the config does not have


def _text(value: Any) -> str:
    if value is _UNSET:
        return "(unset)"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def shorten_pair(old: Any, new: Any, width: int = _SHORT) -> tuple[str, str]:
    """Both values as short one-line texts, cut around where they first differ."""
    a, b = _text(old), _text(new)
    if len(a) <= width and len(b) <= width:
        return a, b
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    start = max(0, i - width // 4)

    def cut(s: str) -> str:
        part = s[start : start + width]
        return ("…" if start else "") + part + ("…" if start + width < len(s) else "")

    return cut(a), cut(b)


def _changed(label: str, old: Any, new: Any) -> str:
    a, b = shorten_pair(old, new)
    return f"{label}: {a} -> {b}"


def dict_diff(label: str, old: Any, new: Any) -> list[str]:
    """One `label key: old -> new` per top-level key that differs."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else [_changed(label, old, new)]
    keys = list(new) + sorted(k for k in old if k not in new)
    return [
        _changed(f"{label} {k}", old.get(k, _UNSET), new.get(k, _UNSET))
        for k in keys
        if old.get(k, _UNSET) != new.get(k, _UNSET)
    ]


def op_label(token: dict[str, Any]) -> str:
    return f"{token.get('step')}/{token.get('op')}" if "op" in token else str(token.get("step"))


# -- the check ---------------------------------------------------------------


class Checker:
    """Why each checkpoint of a pipeline can or cannot be reused, by `CheckpointStore.load`'s rules.

    Args:
        runner: the `DSLRunner` (its config, op hashes, datasets).
        info: (step, op) -> the store's manifest entry, or None.
        digests: step -> current digests of the input files it descends from.
        paths: dataset name -> path, to name a changed input file.
        provenance: (step, op) -> the current provenance (`snapshot(runner)`).
    """

    def __init__(
        self,
        runner: Any,
        info: Callable[[str, str], dict[str, Any] | None],
        digests: Callable[[str], Digests],
        paths: dict[str, str],
        provenance: dict[OpKey, Provenance],
    ) -> None:
        self.runner = runner
        self.info = info
        self.digests = digests
        self.paths = paths
        self.provenance = provenance
        self._memo: dict[OpKey, list[str]] = {}

    def bypass_pipeline(self) -> bool:
        return bool(self.runner.config.get("bypass_cache", False))

    def bypass_op(self, op: str) -> bool:
        cfg = getattr(self.runner, "_op_map", {}).get(op)
        return isinstance(cfg, dict) and bool(cfg.get("bypass_cache", False))

    def reasons(self, step: str, op: str) -> list[str]:
        """Why (step, op) is recomputed; empty when its checkpoint is reused."""
        key = (step, op)
        if key not in self._memo:
            self._memo[key] = self._reasons(step, op)
        return self._memo[key]

    def _reasons(self, step: str, op: str) -> list[str]:
        if self.bypass_pipeline():
            return [BYPASS_PIPELINE]
        if self.bypass_op(op):
            return [BYPASS_OP]
        current_hash = self.runner.step_op_hashes.get(step, {}).get(op)
        if current_hash is None:
            return ["DocETL keeps no checkpoint of it (no op hash)"]
        entry = self.info(step, op)
        if entry is None:
            return [NO_CHECKPOINT]
        meta = entry.get("meta") or {}
        reasons: list[str] = []
        if meta.get(META_OP_HASH) != current_hash:
            reasons += self._hash_reasons(meta, self.provenance.get((step, op)))
        recorded = meta.get(META_INPUTS)
        if recorded is not None:
            reasons += input_reasons(decode(recorded), self.digests(step), self.paths)
        return reasons

    def _hash_reasons(self, meta: dict[str, str], now: Provenance | None) -> list[str]:
        old = decode_json(meta.get(META_PROVENANCE))
        if not isinstance(old, dict) or now is None:
            return ["op hash changed (the checkpoint records no config to compare)"]
        reasons = dict_diff("config", old.get("config"), now.get("config"))
        if "system_prompt" in now:
            reasons += dict_diff("system_prompt", old.get("system_prompt"), now["system_prompt"])
        before = old.get("upstream") or []
        after = now.get("upstream") or []
        for i, token in enumerate(after):
            reasons += self._upstream_reasons(before[i] if i < len(before) else None, token)
        return reasons or ["op hash changed"]

    def _upstream_reasons(self, old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
        if "dataset" in new:
            if not old or old.get("dataset") != new["dataset"]:
                was = f" (was {_source_label(old)})" if old else ""
                return [f"input is now dataset {new['dataset']}{was}"]
            if old.get("digest") == new.get("digest"):
                return []
            if "config" in old and "config" in new:
                return dict_diff(f"dataset {new['dataset']}", old["config"], new["config"])
            return [f"dataset {new['dataset']} config changed"]
        label = op_label(new)
        if not old or op_label(old) != label:
            was = f" (was {_source_label(old)})" if old else ""
            return [
                f"upstream operation {label} runs{was}"
                if self._runs(new)
                else f"input is now {label}{was}"
            ]
        if old.get("hash") == new.get("hash"):
            return []
        if self._runs(new):
            return [f"upstream operation {label} runs"]
        return [f"upstream operation {label} has a newer checkpoint"]

    def _runs(self, token: dict[str, Any]) -> bool:
        if "op" not in token:
            return True
        return bool(self.reasons(str(token["step"]), str(token["op"])))


def _source_label(token: dict[str, Any] | None) -> str:
    if not token:
        return "nothing"
    if "dataset" in token:
        return f"dataset {token['dataset']}"
    return op_label(token)


# Digest keys beside a dataset's own name (docetl_checkpoint.docetl.inputs):
# `<dataset>|file:<path>` a file a parsing tool opened, `<dataset>|tool:<name>`
# a user-defined parsing tool's code. Digest prefixes: `frame:` an in-memory
# DataFrame, `changed-while-read:` a file edited while DocETL read it.
_FILE_KEY, _TOOL_KEY = "|file:", "|tool:"
_FRAME, _UNSTABLE = "frame:", "changed-while-read:"


def input_reasons(recorded: Digests | None, now: Digests, paths: dict[str, str]) -> list[str]:
    """One reason per input whose recorded digest differs from its digest now."""
    if recorded is None:
        return ["its recorded input digests are unreadable"]
    reasons = []
    for key in sorted(set(recorded) | set(now)):
        old, new = recorded.get(key), now.get(key)
        if old == new:
            continue
        if _TOOL_KEY in key:
            reasons.append(f"parsing tool changed: {key.split(_TOOL_KEY, 1)[1]}")
            continue
        if _FILE_KEY not in key and (new or old or "").startswith(_FRAME):
            reasons.append(f"in-memory dataset changed: {key}")
            continue
        path = key.split(_FILE_KEY, 1)[1] if _FILE_KEY in key else paths.get(key, key)
        if new is None:
            reasons.append(f"no longer reads input file: {path}")
        elif old is None:
            reasons.append(f"new input file: {path}")
        elif new == "missing":
            reasons.append(f"input file missing: {path}")
        elif (old or "").startswith(_UNSTABLE):
            reasons.append(f"input file changed while it was read: {path}")
        else:
            reasons.append(f"input file changed: {path}")
    return reasons
