"""`docetl-checkpoint run PIPELINE.yaml [DocETL's run options]`: `docetl run` over the store.

Installs the store (`docetl_checkpoint.docetl.install()`) and hands the
arguments, unchanged, to DocETL's own command line (`docetl.cli.app`, its
`run` command): same options, same output, same exit status, tracebacks
included. Only the program name in DocETL's usage and help text differs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence


def run_docetl(args: Sequence[str], prog_name: str) -> int:
    """Run `docetl run ARGS...` with the store installed; returns DocETL's exit status."""
    import importlib.util

    from docetl_checkpoint.docetl import install

    if importlib.util.find_spec("docetl") is None:
        print(
            f"{prog_name}: error: `run` needs DocETL: pip install 'docetl-checkpoint[docetl]'",
            file=sys.stderr,
        )
        return 2
    install()
    from docetl.cli import app  # after install(): DocETL's CLI then builds our store

    try:
        # standalone mode, as the `docetl` script runs it: click prints usage
        # errors and exits; any other exception propagates as it would there
        app(args=["run", *args], prog_name=prog_name)
    except SystemExit as exit:
        code = exit.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)  # what Python does with a non-integer exit code
        return 1
    return 0
