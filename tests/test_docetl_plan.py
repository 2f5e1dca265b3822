"""End-to-end: "why did this re-run?" with a real DocETL, offline.

`docetl-checkpoint plan` predicts, for every operation, reuse or run and
why; each scenario then runs the pipeline under the store and checks the
prediction against what DocETL actually computed and loaded, and against the
reasons the run stored with each checkpoint and printed on DocETL's console.
The pipeline's one LLM operation is a `map` with a mocked answer: DocETL
prices it (litellm's local cost map) without a call, so costs are real.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from docetl_checkpoint import CheckpointManager
from docetl_checkpoint.cli import main
from docetl_checkpoint.docetl import install, uninstall
from docetl_helpers import DOCETL_MARKS, Run, make_docs, run_pipeline, write_json

pytestmark = DOCETL_MARKS

PROMPT = "Give a label to {{ input.title }}"
STATS = (
    "def transform(arg):\n"
    "    # the document's length, in characters\n"
    "    return {'n': len(arg['text'])}\n"
)
BY_CAT = "def transform(items):\n    return {'docs': len(items)}\n"
CLEAN = "def transform(arg):\n    return {'clean': True}\n"
OPS = [("enrich", "label"), ("enrich", "stats"), ("report", "by_cat")]


def pipeline(
    data: Path, inter: Path, out: Path, *, ops: list[str] | None = None, **changes: Any
) -> dict[str, Any]:
    """enrich (input: docs): label (mocked LLM map) -> stats (code_map);
    report (input: enrich): by_cat (code_reduce). `changes` edit one op each:
    `{op_name: {key: value}}`; `ops` replaces enrich's operation list."""
    operations: list[dict[str, Any]] = [
        {
            "name": "label",
            "type": "map",
            "prompt": PROMPT,
            "output": {"schema": {"label": "string"}},
            "litellm_completion_kwargs": {"mock_response": '{"label": "x"}'},
        },
        {"name": "clean", "type": "code_map", "code": CLEAN},
        {"name": "stats", "type": "code_map", "code": STATS},
        {"name": "by_cat", "type": "code_reduce", "reduce_key": "category", "code": BY_CAT},
    ]
    for op in operations:
        op.update(changes.get(op["name"], {}))
    return {
        "default_model": "gpt-4o-mini",
        "datasets": {"docs": {"type": "file", "path": str(data)}},
        "operations": operations,
        "pipeline": {
            "steps": [
                {"name": "enrich", "input": "docs", "operations": ops or ["label", "stats"]},
                {"name": "report", "input": "enrich", "operations": ["by_cat"]},
            ],
            "output": {"type": "file", "path": str(out), "intermediate_dir": str(inter)},
        },
    }


@dataclass
class Work:
    root: Path
    data: Path
    inter: Path
    yaml_path: Path
    capsys: pytest.CaptureFixture[str]

    def config(self, **kwargs: Any) -> dict[str, Any]:
        return pipeline(self.data, self.inter, self.root / "out.json", **kwargs)

    def write(self, config: dict[str, Any]) -> Path:
        self.yaml_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.yaml_path

    def plan(self, config: dict[str, Any]) -> list[dict[str, Any]]:
        self.capsys.readouterr()
        code = main(["plan", str(self.write(config)), "--json"])
        out, err = self.capsys.readouterr()
        assert code == 0, err
        return list(json.loads(out))

    def run(self, config: dict[str, Any]) -> Run:
        with install():
            return run_pipeline(config)

    def cli(self, *argv: str) -> str:
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        assert code == 0, err
        return out


@pytest.fixture
def work(
    tmp_path: Path, docetl: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Work]:
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "docs.json"
    write_json(data, make_docs(6))
    yield Work(tmp_path, data, tmp_path / "inter", tmp_path / "pipeline.yaml", capsys)
    uninstall()


def actions(plan: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, list[str]]]:
    return {(d["step"], d["op"]): (d["action"], d["reasons"]) for d in plan}


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def assert_plan_was_right(work: Work, plan: list[dict[str, Any]], run: Run) -> None:
    """What the run computed, loaded, stored and printed is what the plan said."""
    planned_runs = [(d["step"], d["op"]) for d in plan if d["action"] == "run"]
    assert sorted(run.saved) == sorted(planned_runs)
    loaded = {(d["step"], d["op"]) for d in plan if d["action"] == "reuse" and "note" not in d}
    # an operation pulled twice (both sides of an equijoin read the step before)
    # is loaded the second time, from the checkpoint its first pull saved
    assert set(run.reused) - set(run.saved) == loaded
    manager = CheckpointManager(work.inter)
    for d in plan:
        if d["action"] == "run":
            meta = manager.info(d["step"], d["op"])["meta"]
            assert json.loads(meta["docetl_reasons"]) == d["reasons"]
            line = f"docetl-checkpoint: run {d['step']}/{d['op']}: {d['reasons'][0]}"
            assert line in run.log.replace("\n", " ")
        elif "note" not in d:
            assert f"docetl-checkpoint: reuse {d['step']}/{d['op']}" in run.log


# -- plan -----------------------------------------------------------------------------


def test_fresh_pipeline_runs_everything_with_no_checkpoint_yet(work: Work) -> None:
    config = work.config()
    plan = work.plan(config)
    assert plan == [
        {"step": s, "op": o, "action": "run", "reasons": ["no checkpoint yet"], "last_cost": None}
        for s, o in OPS
    ]
    assert not work.inter.exists()  # plan created nothing
    assert_plan_was_right(work, plan, work.run(config))


def test_unchanged_pipeline_reuses_the_last_checkpoint_and_plan_writes_nothing(
    work: Work,
) -> None:
    config = work.config()
    work.run(config)
    before = folder_state(work.inter)
    plan = work.plan(config)
    assert folder_state(work.inter) == before
    assert actions(plan) == {key: ("reuse", []) for key in OPS}
    assert [d.get("note") for d in plan] == [
        "not needed: a later operation's checkpoint is reused",
        "not needed: a later operation's checkpoint is reused",
        None,
    ]
    assert_plan_was_right(work, plan, work.run(config))


def test_changed_input_file_is_named(work: Work) -> None:
    config = work.config()
    work.run(config)
    docs = make_docs(6)
    docs[2]["text"] += " edited"
    write_json(work.data, docs)
    plan = work.plan(config)
    changed = [f"input file changed: {work.data}"]
    assert actions(plan) == {key: ("run", changed) for key in OPS}
    assert_plan_was_right(work, plan, work.run(config))


def test_changed_prompt_names_the_key_with_old_and_new_values(work: Work) -> None:
    work.run(work.config())
    config = work.config(label={"prompt": "Give a short label to {{ input.title }}"})
    plan = work.plan(config)
    assert actions(plan) == {
        ("enrich", "label"): (
            "run",
            [
                'config prompt: "Give a label to {{ input.title }}" -> '
                '"Give a short label to {{ input.title }}"'
            ],
        ),
        ("enrich", "stats"): ("run", ["upstream operation enrich/label runs"]),
        ("report", "by_cat"): ("run", ["upstream operation enrich/stats runs"]),
    }
    assert_plan_was_right(work, plan, work.run(config))


def test_changed_upstream_operation_reruns_what_is_downstream_only(work: Work) -> None:
    work.run(work.config())
    config = work.config(stats={"code": STATS.replace("len(arg['text'])", "len(arg['title'])")})
    plan = work.plan(config)
    assert actions(plan) == {
        ("enrich", "label"): ("reuse", []),
        ("enrich", "stats"): (
            "run",
            ["config code: …'n': len(arg['text'])}\\n\" -> …'n': len(arg['title'])}\\n\""],
        ),
        ("report", "by_cat"): ("run", ["upstream operation enrich/stats runs"]),
    }
    assert "note" not in plan[0]  # label is loaded, not skipped
    assert_plan_was_right(work, plan, work.run(config))


def test_new_operation(work: Work) -> None:
    work.run(work.config())
    config = work.config(ops=["label", "clean", "stats"])
    plan = work.plan(config)
    assert actions(plan) == {
        ("enrich", "label"): ("reuse", []),
        ("enrich", "clean"): ("run", ["no checkpoint yet"]),
        ("enrich", "stats"): ("run", ["upstream operation enrich/clean runs (was enrich/label)"]),
        ("report", "by_cat"): ("run", ["upstream operation enrich/stats runs"]),
    }
    assert_plan_was_right(work, plan, work.run(config))


def test_bypass_cache_on_an_operation(work: Work) -> None:
    work.run(work.config())
    # `bypass_cache` is in the op's config, so in DocETL's op hash: downstream changes too
    config = work.config(stats={"bypass_cache": True})
    plan = work.plan(config)
    assert actions(plan) == {
        ("enrich", "label"): ("reuse", []),
        ("enrich", "stats"): ("run", ["bypass_cache is set on the operation"]),
        ("report", "by_cat"): ("run", ["upstream operation enrich/stats runs"]),
    }
    assert_plan_was_right(work, plan, work.run(config))


def test_bypass_cache_behind_a_reused_checkpoint_does_not_run(work: Work) -> None:
    # DocETL pulls from the last operation: by_cat is reused, so stats is never asked
    config = work.config(stats={"bypass_cache": True})
    work.run(config)
    plan = work.plan(config)
    assert actions(plan) == {key: ("reuse", []) for key in OPS}
    assert plan[1]["note"] == "not needed: a later operation's checkpoint is reused"
    assert_plan_was_right(work, plan, work.run(config))


def test_bypass_cache_for_the_pipeline(work: Work) -> None:
    work.run(work.config())
    config = dict(work.config(), bypass_cache=True)
    plan = work.plan(config)
    assert actions(plan) == {key: ("run", ["bypass_cache is set for the pipeline"]) for key in OPS}
    assert_plan_was_right(work, plan, work.run(config))


def test_plan_text_output(work: Work) -> None:
    work.run(work.config())
    out = work.cli("plan", str(work.write(work.config(stats={"code": CLEAN}))))
    lines = out.splitlines()
    assert lines[0] == f"checkpoints: {work.inter}"
    assert lines[1] == "reuse  enrich/label"
    assert lines[2].startswith("run    enrich/stats  (last time: $0, 0.")
    assert lines[3].startswith("         - config code: ")
    assert lines[4].startswith("run    report/by_cat  (last time: $0, ")
    assert lines[5] == "         - upstream operation enrich/stats runs"
    assert lines[-1] == "2 of 3 operations run; they cost $0 last time"


# -- cost ------------------------------------------------------------------------------


def test_cost_is_stored_per_checkpoint_and_shown(work: Work) -> None:
    # a prompt of its own: DocETL's LLM cache (shared by the module's tests) answers
    # a prompt it has seen for $0
    prompt = f"Label ({work.root.name}) {{{{ input.title }}}}"
    run = work.run(work.config(label={"prompt": prompt}))
    manager = CheckpointManager(work.inter)
    costs = {key: json.loads(manager.info(*key)["meta"]["docetl_cost"]) for key in OPS}
    label = costs[("enrich", "label")]
    assert label["dollars"] == pytest.approx(run.runner.total_cost) and label["dollars"] > 0
    usage = run.runner.total_token_usage["gpt-4o-mini"]
    assert (label["prompt_tokens"], label["completion_tokens"]) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert label["prompt_tokens"] > 0
    for key in OPS[1:]:  # code operations cost nothing
        assert costs[key]["dollars"] == 0
        assert costs[key]["prompt_tokens"] == costs[key]["completion_tokens"] == 0
        assert costs[key]["seconds"] >= 0

    # the plan shows what the operations it would run cost last time
    plan = work.plan(work.config(label={"prompt": "Label {{ input.title }}"}))
    assert plan[0]["last_cost"] == label

    # info and ls show it
    info = work.cli("info", str(work.inter), "enrich", "label")
    assert (
        "cost" in info and f"{label['prompt_tokens']}+{label['completion_tokens']} tokens" in info
    )
    assert "reasons   no checkpoint yet" in info or "no checkpoint yet" in info
    listing = work.cli("ls", str(work.inter))
    assert "COST" in listing.splitlines()[0]

    # stats: the latest run recomputes stats and by_cat and reuses label
    work.run(work.config(label={"prompt": prompt}, stats={"code": CLEAN}))
    stats = json.loads(work.cli("stats", str(work.inter), "--json"))
    latest = stats["latest_run"]
    assert latest["recomputed"] == 2 and latest["reused"] == 1
    assert latest["reused_dollars"] == pytest.approx(label["dollars"])
    text = work.cli("stats", str(work.inter))
    assert "latest run" in text and "reused 1 checkpoint" in text

    # a run that reuses every checkpoint saves none: the store's note names it
    work.run(work.config(label={"prompt": prompt}, stats={"code": CLEAN}))
    latest = json.loads(work.cli("stats", str(work.inter), "--json"))["latest_run"]
    assert latest["recomputed"] == 0 and latest["reused"] == 3
    assert latest["reused_dollars"] == pytest.approx(label["dollars"])


def test_info_shows_the_reasons_a_run_stored(work: Work) -> None:
    work.run(work.config())
    work.run(work.config(stats={"code": CLEAN}))
    out = work.cli("info", str(work.inter), "report", "by_cat")
    assert "upstream operation enrich/stats runs" in out
    data = json.loads(work.cli("info", str(work.inter), "report", "by_cat", "--json"))
    assert data["reasons"] == ["upstream operation enrich/stats runs"]
    assert data["cost"]["dollars"] == 0
    assert os.path.isdir(work.inter)


def test_plan_without_intermediate_dir_runs_everything(work: Work) -> None:
    config = work.config()
    del config["pipeline"]["output"]["intermediate_dir"]
    reason = "pipeline.output.intermediate_dir is not set: DocETL keeps no checkpoints"
    assert actions(work.plan(config)) == {key: ("run", [reason]) for key in OPS}


def test_plan_reads_a_docetl_json_folder_without_adopting_it(work: Work) -> None:
    import docetl.checkpoint

    config = work.config()
    run = run_pipeline(config)  # DocETL's own store: JSON files
    assert type(run.store) is docetl.checkpoint.CheckpointStore
    before = folder_state(work.inter)
    assert actions(work.plan(config)) == {key: ("reuse", []) for key in OPS}

    changed = work.config(stats={"code": CLEAN})
    plan = work.plan(changed)
    assert folder_state(work.inter) == before  # nothing adopted, nothing written
    assert actions(plan) == {
        ("enrich", "label"): ("reuse", []),
        ("enrich", "stats"): (
            "run",
            ["op hash changed (the checkpoint records no config to compare)"],
        ),
        ("report", "by_cat"): (
            "run",
            ["op hash changed (the checkpoint records no config to compare)"],
        ),
    }
    assert_plan_was_right(work, plan, work.run(changed))  # the store adopts the folder


def join_pipeline(root: Path, prompt: str = "Same? {{ left.name }} {{ right.city }}") -> Any:
    """s1 (input: people): c (code_map); s2: j (equijoin of s1 and cities, mocked LLM) -> c."""
    return {
        "default_model": "gpt-4o-mini",
        "datasets": {
            "people": {"type": "file", "path": str(root / "people.json")},
            "cities": {"type": "file", "path": str(root / "cities.json")},
        },
        "operations": [
            {
                "name": "j",
                "type": "equijoin",
                "comparison_prompt": prompt,
                "blocking_conditions": ["left['id'] == right['id']"],
                "litellm_completion_kwargs": {"mock_response": '{"is_match": true}'},
            },
            {"name": "c", "type": "code_map", "code": CLEAN},
        ],
        "pipeline": {
            "steps": [
                {"name": "s1", "input": "people", "operations": ["c"]},
                {"name": "s2", "operations": [{"j": {"left": "s1", "right": "cities"}}, "c"]},
            ],
            "output": {
                "type": "file",
                "path": str(root / "joined.json"),
                "intermediate_dir": str(root / "inter"),
            },
        },
    }


def test_equijoin_names_the_side_that_changed(work: Work) -> None:
    write_json(work.root / "people.json", [{"id": i, "name": f"n{i}"} for i in range(3)])
    write_json(work.root / "cities.json", [{"id": i, "city": f"c{i}"} for i in range(3)])
    config = join_pipeline(work.root)
    work.run(config)
    assert actions(work.plan(config)) == {
        ("s1", "c"): ("reuse", []),
        ("s2", "j"): ("reuse", []),
        ("s2", "c"): ("reuse", []),
    }

    write_json(work.root / "cities.json", [{"id": i, "city": f"C{i}"} for i in range(3)])
    plan = work.plan(config)
    cities = f"input file changed: {work.root / 'cities.json'}"
    assert actions(plan) == {
        ("s1", "c"): ("reuse", []),
        ("s2", "j"): ("run", [cities]),
        ("s2", "c"): ("run", [cities]),
    }
    assert_plan_was_right(work, plan, work.run(config))

    dirty = CLEAN.replace("True", "False")
    config["operations"][1]["code"] = dirty  # c of s1 (and of s2: the same op)
    plan = work.plan(config)
    code = (
        "config code: \"def transform(arg):\\n    return {'clean': True}\\n\" -> "
        "\"def transform(arg):\\n    return {'clean': False}\\n\""
    )
    assert actions(plan) == {
        ("s1", "c"): ("run", [code]),
        ("s2", "j"): ("run", ["upstream operation s1/c runs"]),
        ("s2", "c"): ("run", [code, "upstream operation s2/j runs"]),
    }
    assert_plan_was_right(work, plan, work.run(config))


def test_plan_in_a_fresh_interpreter_prints_only_json(work: Work) -> None:
    import subprocess
    import sys

    config = work.config()
    work.run(config)
    proc = subprocess.run(
        [sys.executable, "-m", "docetl_checkpoint.cli", "plan", str(work.write(config)), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work.root,
    )
    assert proc.returncode == 0, proc.stderr
    assert actions(json.loads(proc.stdout)) == {key: ("reuse", []) for key in OPS}


def test_plan_errors(work: Work) -> None:
    assert main(["plan", str(work.root / "missing.yaml")]) == 1
    (work.root / "p.txt").write_text("x")
    assert main(["plan", str(work.root / "p.txt")]) == 2
    assert "no such file" in work.capsys.readouterr().err


def test_input_reasons_name_each_kind_of_input() -> None:
    from docetl_checkpoint.docetl.provenance import input_reasons

    recorded = {
        "docs": "blake2b:1",
        "docs|file:docs/d2.txt": "blake2b:2",
        "docs|tool:to_text": "code:1",
        "frames": "frame:1",
        "gone": "blake2b:3",
        "raced": "changed-while-read:blake2b:4",
        "same": "blake2b:5",
    }
    now = {
        "docs": "missing",
        "docs|file:docs/d2.txt": "blake2b:22",
        "docs|tool:to_text": "code:2",
        "frames": "frame:2",
        "new": "blake2b:6",
        "raced": "blake2b:4",
        "same": "blake2b:5",
    }
    paths = {"docs": "data/docs.json", "gone": "old.json", "new": "new.json", "raced": "r.json"}
    assert input_reasons(recorded, now, paths) == [
        "input file missing: data/docs.json",
        "input file changed: docs/d2.txt",
        "parsing tool changed: to_text",
        "in-memory dataset changed: frames",
        "no longer reads input file: old.json",
        "new input file: new.json",
        "input file changed while it was read: r.json",
    ]
    assert input_reasons(None, now, paths) == ["its recorded input digests are unreadable"]


def test_changed_system_prompt_and_dataset_path(work: Work) -> None:
    config = dict(work.config(), system_prompt={"persona": "a librarian"})
    config["datasets"]["docs"]["path"] = "docs.json"  # relative to the working folder
    work.run(config)
    (work.root / "copy.json").write_bytes(work.data.read_bytes())

    moved = json.loads(json.dumps(config))
    moved["datasets"]["docs"]["path"] = "copy.json"  # same content: no input file reason
    plan = work.plan(moved)
    assert actions(plan) == {
        ("enrich", "label"): ("run", ['dataset docs path: "docs.json" -> "copy.json"']),
        ("enrich", "stats"): ("run", ["upstream operation enrich/label runs"]),
        ("report", "by_cat"): ("run", ["upstream operation enrich/stats runs"]),
    }

    persona = dict(config, system_prompt={"persona": "an archivist"})
    plan = work.plan(persona)
    # DocETL hashes the system prompt into every step's chain: each step's first op says so
    changed = 'system_prompt persona: "a librarian" -> "an archivist"'
    assert actions(plan) == {
        ("enrich", "label"): ("run", [changed]),
        ("enrich", "stats"): ("run", ["upstream operation enrich/label runs"]),
        ("report", "by_cat"): ("run", [changed, "upstream operation enrich/stats runs"]),
    }
    assert_plan_was_right(work, plan, work.run(persona))


def test_reasons_with_a_lone_surrogate_are_stored_and_printed(work: Work) -> None:
    # DocETL accepts any str in a config (e.g. a Latin-1 file name read as `caf\udce9`)
    work.run(work.config(stats={"note": "caf\udce9"}))
    run = work.run(work.config(stats={"note": "caf\udce8"}))
    meta = CheckpointManager(work.inter).info("enrich", "stats")["meta"]
    assert json.loads(meta["docetl_reasons"]) == ['config note: "caf\udce9" -> "caf\udce8"']
    assert json.loads(meta["docetl_provenance"])["config"]["note"] == "caf\udce8"
    assert 'run enrich/stats: config note: "caf\\udce9" -> "caf\\udce8"' in run.log
