"""#15: hostile input files and option values exit 2 with a clear message, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.cli import main
from console.datadir import is_data_dir

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
    # Nothing stored: no data directory was made (a read command refuses one that does not exist), or it
    # holds no task.
    if is_data_dir(data):
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


def test_ssh_config_options_that_change_how_a_host_is_reached_are_refused_with_file_and_line(tmp_path, capsys):
    config = tmp_path / "ssh_config"
    config.write_text("Host web1\n  HostName 10.0.0.1\n  ProxyCommand ssh -W %h:%p bastion\n"
                      "Host web2\n  HostName 10.0.0.2\n  ProxyJump bastion\n  LocalCommand touch /tmp/x\n"
                      "Host web3\n  HostName 10.0.0.3\n  ProxyJump none\n")
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "inventory", "import", str(config), "--format", "ssh_config"]) == 2
    err = capsys.readouterr().err
    assert "ssh_config:3: ProxyCommand is not supported" in err
    assert "ssh_config:6: ProxyJump" in err and "ssh_config:7: LocalCommand" in err
    assert "ssh_config:10" not in err  # "none" disables the option: nothing to refuse
    assert main(["--data-dir", str(data), "inventory", "list", "--json"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("ch", ["\x01", "\x7f", "\x1b", "\x9b", "\u202e", "\u200b"])
@pytest.mark.parametrize("fmt", ["ini", "yaml"])
def test_an_ansible_user_with_a_control_character_is_refused_at_import(ch, fmt):
    from console.domain.inventory import parse_inventory
    from console.errors import ValidationError

    text = (f"[web]\nweb1 ansible_host=10.0.0.1 ansible_user=ops{ch}admin\n" if fmt == "ini" else
            f'all:\n  hosts:\n    web1:\n      ansible_user: "ops\\u{ord(ch):04x}admin"\n')
    with pytest.raises(ValidationError) as err:
        parse_inventory(text, source="hosts", fmt=fmt)
    assert "control or invisible format characters" in str(err.value)


async def test_a_host_whose_user_breaks_the_ssh_library_fails_that_host_not_the_run(tmp_path):
    """An older inventory may still hold such a user: the scan fails that host (SASLPrepError) and the others
    are scanned."""
    from console.jobs import Target
    from console.scan.adhoc import adhoc_scan
    from console.scan.credentials import CredentialProfile, load_credential
    from console.scan.executor import ScanOptions
    from console.sim.fleet import start_fleet

    async with await start_fleet(2, seed=3, distros=["debian-12"]) as sim:
        files = sim.write_files(tmp_path / "fleet")
        cred = load_credential(CredentialProfile(name="sim", user=sim.user, key_files=(str(files.private_key),),
                                                 known_hosts=(str(files.known_hosts),)))
        good, bad = sim.hosts
        targets = [Target(name=good.name, address=good.address, port=good.port, user=sim.user),
                   Target(name=bad.name, address=bad.address, port=bad.port, user="ops\x01admin")]
        results = {r.host: r for r in await adhoc_scan(targets, cred, ScanOptions(connect_timeout=5,
                                                                                   command_timeout=10))}
    assert results[good.name].status.value == "ok"
    assert results[bad.name].status.value == "failed" and "SASLPrepError" in (results[bad.name].reason or "")


def test_a_data_dir_that_is_a_file_exits_2(tmp_path, capsys):
    in_the_way = tmp_path / "data"
    in_the_way.write_text("not a directory")
    assert main(["--data-dir", str(in_the_way), "task", "list"]) == 2
    assert "cannot be used as a data directory" in capsys.readouterr().err


@pytest.mark.parametrize("args", ["-o ProxyCommand=\"ssh -W %h:%p bastion\"", "-J bastion", "-o ProxyJump=bastion"])
def test_ansible_ssh_args_that_reroute_a_host_are_refused_too(args):
    from console.domain.inventory import parse_inventory
    from console.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        parse_inventory(f"[web]\nw1 ansible_host=10.0.0.1\n[web:vars]\nansible_ssh_common_args='{args}'\n",
                        source="hosts", fmt="ini")
    assert "hosts:4: ansible_ssh_common_args sets" in str(err.value)
    kept = parse_inventory("[web]\nw1 ansible_host=10.0.0.1 ansible_ssh_common_args='-o UserKnownHostsFile=/k'\n",
                           source="hosts", fmt="ini")
    assert kept[0].name == "w1"
