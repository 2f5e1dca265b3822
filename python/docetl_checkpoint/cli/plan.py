"""`plan PIPELINE.yaml`: what `docetl run` would reuse and recompute now, and why.

Needs DocETL (it builds the pipeline's `DSLRunner` to hash it as DocETL does);
calls no LLM and writes nothing. See `docetl_checkpoint.docetl.plan`.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from docetl_checkpoint.cli import render
from docetl_checkpoint.cli.common import EXIT_OK, EXIT_USAGE, CliError


def cmd_plan(args: argparse.Namespace) -> int:
    path = args.pipeline
    if not os.path.isfile(path):
        raise CliError(f"no such file: {path}")
    if not path.endswith((".yaml", ".yml")):
        raise CliError(f"not a pipeline YAML file (.yaml or .yml): {path}", EXIT_USAGE)
    try:
        from docetl_checkpoint.docetl.plan import load_runner, plan
    except ImportError as error:  # pragma: no cover - the extension is missing
        raise CliError(f"cannot load docetl_checkpoint: {error}") from None
    try:
        runner = load_runner(path)
    except ImportError as error:
        raise CliError(
            f"plan needs DocETL (pip install 'docetl-checkpoint[docetl]'): {error}", EXIT_USAGE
        ) from None
    decisions = plan(runner)
    if args.json:
        print(render.dumps([d.to_json() for d in decisions]))
        return EXIT_OK
    print("\n".join(plan_lines(decisions, runner.intermediate_dir)))
    return EXIT_OK


def plan_lines(decisions: list[Any], intermediate_dir: Any) -> list[str]:
    from docetl_checkpoint.docetl.cost import describe, dollars

    width = render.terminal_width()
    mark = render.ellipsis()
    lines = [f"checkpoints: {intermediate_dir or '(none: no intermediate_dir)'}"]
    for d in decisions:
        line = f"{d.action:<5}  {d.step}/{d.op}"
        if d.note:
            line += f"  ({d.note})"
        elif d.action == "run" and d.last_cost is not None:
            line += f"  (last time: {describe(d.last_cost)})"
        lines.append(render.cut(line, width, mark))
        lines += [render.cut(f"         - {render.one_line(r)}", width, mark) for r in d.reasons]
    runs = [d for d in decisions if d.action == "run"]
    summary = f"\n{len(runs)} of {len(decisions)} operation{'s' * (len(decisions) != 1)} run"
    known = [d.last_cost["dollars"] for d in runs if d.last_cost is not None]
    if known:
        summary += f"; they cost {dollars(sum(known))} last time"
        if len(known) < len(runs):
            summary += f" ({len(runs) - len(known)} with no recorded cost)"
    lines.append(summary)
    return lines
