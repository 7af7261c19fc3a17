"""#15: hostile input files and option values exit 2 with a clear message, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main

BOMB = "all:\n  vars:\n    a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"    {n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
) + "  hosts:\n    web1:\n"


def files(tmp: Path) -> dict[str, Path]:
    out = {"latin1.toml": b'name = "x"\ndescription = "caf\xe9"\n',
           "deep.toml": ("a = " + "[" * 5000 + "]" * 5000 + "\n").encode(),
           "bomb.yml": BOMB.encode()}
    paths = {}
    for name, data in out.items():
        paths[name] = tmp / name
        paths[name].write_bytes(data)
    return paths


@pytest.mark.parametrize("args,expected", [
    (["task", "add", "--file", "{latin1.toml}"], "not UTF-8 text"),
    (["task", "add", "--file", "{deep.toml}"], "too deeply"),
    (["task", "add", "--file", "/dev/zero"], "larger than 8 MiB"),
    (["inventory", "import", "/dev/zero"], "larger than 8 MiB"),
    (["inventory", "import", "{bomb.yml}"], "alias"),
    (["people", "import", "{deep.toml}"], "too deeply"),
    (["cron", "0 0 0 * * ?", "--from", "9999-12-31T00:00:00"], "between 1970 and 2099"),
])
def test_bad_files_exit_2_naming_the_rule_and_store_nothing(tmp_path, capsys, args, expected):
    paths = {k: str(v) for k, v in files(tmp_path).items()}
    data = tmp_path / "data"
    code = main(["--data-dir", str(data), *[paths.get(a.strip("{}"), a) for a in args]])
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err and "Traceback" not in err
    assert main(["--data-dir", str(data), "task", "list", "--json"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("args", [
    ["scan", "--inventory", "x", "--timeout", "-1"], ["scan", "--inventory", "x", "--timeout", "nan"],
    ["scan", "--inventory", "x", "--timeout", "inf"], ["scan", "--inventory", "x", "--concurrency", "0"],
    ["hostkey", "accept", "h", "--port", "0"], ["hostkey", "accept", "h", "--port", "65536"],
    ["runs", "--limit", "-1"], ["runs", "--limit", "9" * 40], ["events", "--limit", "0"],
    ["daemon", "--grace", "nan"], ["daemon", "--grace", "-5"],
])
def test_bad_numbers_are_refused_by_the_parser(tmp_path, capsys, args):
    with pytest.raises(SystemExit) as exit_:
        main(["--data-dir", str(tmp_path / "data"), *args])
    assert exit_.value.code == 2
    assert "must be" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
