"""Running the command-line tool in-process, for the tests of every folder."""

from __future__ import annotations

import contextlib
import io
import json

from genlab.app.cli import main


def run_cli(*argv) -> tuple[int, str, str]:
    """Run ``genlab ARGV`` in-process; returns (exit code, stdout, stderr). An argparse exit counts
    as the exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def assert_one_line_error(code: int, out: str, err: str, *needles: str) -> str:
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("genlab: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
