"""The README's examples, checked against the code: every `genlab` command line parses with the real
command-line tool (no stale flag or command), the Python quick start runs (with fewer steps), and the
REST examples get the answers the README shows from a served model.

Commands that train for minutes or read data this machine may not have are parsed, not run: what a
user copies must at least be a command genlab takes.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from genlab.app.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def blocks(lang: str) -> list[str]:
    return [body for kind, body in re.findall(r"```(\w+)\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
            if kind == lang]


def shell_commands(program: str) -> list[str]:
    """The README's shell lines that run ``program``, comments cut, continued lines joined."""
    out = []
    for body in blocks("bash"):
        text = body.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.strip()
            if line.startswith(program + " ") or line == program:
                out.append(re.split(r"\s+#\s", line, maxsplit=1)[0].strip())
    return out


GENLAB_LINES = shell_commands("genlab")


def test_the_readme_shows_commands():
    assert len(GENLAB_LINES) > 50  # the extraction itself works


@pytest.mark.parametrize("line", GENLAB_LINES)
def test_every_genlab_line_is_a_command_genlab_takes(line):
    argv = shlex.split(line)[1:]
    if argv and argv[0] == "--debug":
        argv = argv[1:]
    try:
        args, extra = build_parser().parse_known_args(argv)
    except SystemExit as e:  # argparse: an unknown command, a missing argument or a wrong choice
        pytest.fail(f"`{line}` does not parse (exit {e.code})")
    if args.command != "train":  # only `train` takes free --key value settings
        assert not extra, f"`{line}`: unknown arguments {extra}"


def python_block(starting: str) -> str:
    found = [b for b in blocks("python") if b.lstrip().startswith(starting)]
    assert found, starting
    return found[0]


def test_the_python_quick_start_runs(tmp_path, monkeypatch, capsys):
    """The first Python block as written, with 30 training steps instead of 3000."""
    monkeypatch.chdir(tmp_path)
    code = python_block("import genlab").replace("steps=3000", "steps=30")
    code = code.replace("TrainConfig(steps=30, ", "TrainConfig(steps=30, progress=False, ")
    namespace: dict = {}
    exec(compile(code, "README quick start", "exec"), namespace)  # noqa: S102 (the README's own code)
    printed = capsys.readouterr().out
    assert "'likelihood': 'bound'" in printed and "nll_nats" in printed
    assert tuple(namespace["images"].shape) == (16, 1, 8, 8)
    assert (tmp_path / "my-vae" / "model.safetensors").is_file()
    assert namespace["same"].name == "vae"


def test_the_text_quick_start_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_book.txt").write_text("ROMEO: but soft, what light through yonder window breaks?\n" * 40,
                                          encoding="utf-8")
    code = "import genlab\n" + python_block('data = genlab.load_dataset("text:my_book.txt")')
    code = (code.replace("n_layer=4, n_embd=128", "n_layer=1, n_embd=32").replace("steps=2000", "steps=5, progress=False")
            .replace("max_new_tokens=200", "max_new_tokens=20"))
    exec(compile(code, "README text quick start", "exec"), {})  # noqa: S102
    assert capsys.readouterr().out.startswith("ROMEO:")


def test_the_rest_examples_answer_as_shown(tmp_path):
    """The README's curl examples, sent to a served model called demo (as `make serve` serves it)."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from cli_helpers import run_cli
    from genlab.app.server import create_app

    run = tmp_path / "demo"
    code, _, err = run_cli("train", "vae", "--data", "digits", "--steps", "2", "--set", "hidden=[16]", "--out", run,
                           "--progress", "false")
    assert code == 0, err
    client = TestClient(create_app([run]), base_url="http://localhost")
    curls = shell_commands("curl")
    assert len(curls) >= 2
    for line in curls:
        words = shlex.split(line)
        url = next(w for w in words if w.startswith("localhost:8000/"))[len("localhost:8000"):]
        if "-d" in words:  # a JSON body
            r = client.post(url, json=json.loads(words[words.index("-d") + 1]))
            assert r.status_code == 200, (line, r.text)
            body = r.json()
            assert body["model"] == "demo" and body["files"][0]["name"] == "samples.png" and body["provenance"]["synthetic"]
        else:  # a form with files: the README's digit.png is any 8x8 picture
            from PIL import Image

            Image.new("L", (8, 8), 200).save(tmp_path / "digit.png")
            fields = [w for i, w in enumerate(words) if i and words[i - 1] == "-F"]
            files, data = {}, {}
            for field in fields:
                key, value = field.split("=", 1)
                if value.startswith("@"):
                    files[key] = (value[1:], (tmp_path / value[1:]).read_bytes(), "image/png")
                else:
                    data[key] = value
            r = client.post(url, files=files, data=data)
            assert r.status_code == 200, (line, r.text)
