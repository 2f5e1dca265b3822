"""What an operation cost to compute, as DocETL accounts it, stored with its checkpoint.

DocETL adds each operation's LLM cost to `runner.total_cost` and its tokens to
`runner.total_token_usage` (model -> prompt/completion tokens) as it runs it;
it does not keep them per operation. DocETL pulls operations one at a time
and talks to the store right before and after each: `load`/`clear_stale` of
an operation, then those of its upstream operations (each ending in a `save`
or a reused `load`), then the operation runs, then its `save`. So what the
runner's totals grew by between the store's previous call and an
operation's `save` is that operation's cost (a scan in between costs
nothing). Seconds are wall time over the same span, measured here (DocETL
reports only the whole run's time).

Stored as meta `docetl_cost`: `{"dollars", "prompt_tokens",
"completion_tokens", "seconds"}`; and meta `docetl_run`: `{"id", "started"}`
of the store instance (one runner) that computed it, so `stats` can tell the
latest run's checkpoints from the ones it reused.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

META_COST = "docetl_cost"
META_RUN = "docetl_run"


def _tokens(runner: Any) -> tuple[int, int]:
    usage = getattr(runner, "total_token_usage", None) or {}
    prompt = completion = 0
    for counts in list(usage.values()):
        prompt += int(counts.get("prompt_tokens", 0) or 0)
        completion += int(counts.get("completion_tokens", 0) or 0)
    return prompt, completion


class CostMeter:
    """The runner's totals at the store's last call; what they grew by since."""

    def __init__(self) -> None:
        self._mark: tuple[float, int, int, float] | None = None
        self.run = {"id": uuid.uuid4().hex[:12], "started": time.time()}

    def mark(self, runner: Any) -> None:
        prompt, completion = _tokens(runner)
        self._mark = (float(getattr(runner, "total_cost", 0) or 0), prompt, completion, time.time())

    def since_mark(self, runner: Any) -> dict[str, Any] | None:
        if self._mark is None:
            return None
        cost, prompt, completion, started = self._mark
        now_prompt, now_completion = _tokens(runner)
        return {
            "dollars": max(0.0, float(getattr(runner, "total_cost", 0) or 0) - cost),
            "prompt_tokens": now_prompt - prompt,
            "completion_tokens": now_completion - completion,
            "seconds": round(time.time() - started, 3),
        }

    def meta(self, runner: Any) -> dict[str, str]:
        """The cost and run meta for the checkpoint being saved now."""
        spent = self.since_mark(runner)
        out = {META_RUN: run_text(self.run)}
        if spent is not None:
            out[META_COST] = json.dumps(spent, separators=(",", ":"))
        return out


def run_text(run: dict[str, Any]) -> str:
    """A run (`id`, `started`) as stored in meta and in the store's note."""
    return json.dumps(run, separators=(",", ":"))


def _decoded(meta: dict[str, str] | None, key: str) -> dict[str, Any] | None:
    text = (meta or {}).get(key)
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def cost_of(meta: dict[str, str] | None) -> dict[str, Any] | None:
    """The recorded cost of a checkpoint (`dollars`, tokens, `seconds`), or None."""
    value = _decoded(meta, META_COST)
    if value is None or not isinstance(value.get("dollars"), (int, float)):
        return None
    return value


def run_of(meta: dict[str, str] | None) -> dict[str, Any] | None:
    """The run (`id`, `started`) that computed a checkpoint, or None."""
    value = _decoded(meta, META_RUN)
    if value is None or not isinstance(value.get("started"), (int, float)):
        return None
    return value


def dollars(value: float) -> str:
    """$ amounts as DocETL prints small LLM costs: enough digits to see a cent's fraction."""
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.6f}".rstrip("0")
    return f"${value:,.4f}".rstrip("0").rstrip(".")


def describe(cost: dict[str, Any]) -> str:
    """'$0.000041, 30+60 tokens, 0.4 s'."""
    parts = [dollars(float(cost["dollars"]))]
    prompt, completion = cost.get("prompt_tokens") or 0, cost.get("completion_tokens") or 0
    if prompt or completion:
        parts.append(f"{prompt:,}+{completion:,} tokens")
    if isinstance(cost.get("seconds"), (int, float)):
        parts.append(f"{cost['seconds']:.1f} s")
    return ", ".join(parts)
