"""The one-exec scan script: its text, its sh family rule against the Python parser, and the framing
reader (markers cut anywhere, forged markers, output kept byte for byte)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from console.scan.commands import COMMANDS, OS_RELEASE, Family
from console.scan.parsers import ParseError, parse_os_release
from console.scan.script import (
    FAMILY_FUNCTION,
    ScriptDemux,
    ScriptVariant,
    build_script,
    new_token,
    parse_script,
    script_family,
    script_steps,
    stops_after,
)

FIXTURES = Path(__file__).parent / "fixtures" / "os-release"
VARIANTS = [ScriptVariant(refresh, sudo) for refresh in (False, True) for sudo in (False, True)]

OS_RELEASE_TEXTS = [(FIXTURES / name).read_text() for name in sorted(p.name for p in FIXTURES.iterdir())] + [
    'ID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="21.3"\n',
    'ID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="8.10"\n',
    'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="7.9"\n',
    'ID="ol"\nID_LIKE="fedora"\nVERSION_ID="8.9"\n',
    "ID=fedora\nVERSION_ID=40\n",
    "ID=fedora\nVERSION_ID=21\n",
    'ID="amzn"\nVERSION_ID="2018.03"\n',
    'ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\nVERSION_ID="20240801"\n',
    'ID="sle-micro"\nID_LIKE="suse"\nVERSION_ID="5.5"\n',
    "ID=postmarketos\nID_LIKE='alpine'\nVERSION_ID=v24.06\n",
    'ID="centos"\nID_LIKE="rhel fedora"\n',
    "ID=gentoo\n",
    'NAME="Mystery"\n',
    "  ID=debian  \nVERSION_ID=12",  # indented, no final newline
    'ID="*"\nID_LIKE="debian"\n',  # a glob must not expand against the host's files
]


def sh_family(text: str) -> str:
    done = subprocess.run(["sh", "-c", "set -f\n" + FAMILY_FUNCTION + "\npw_family"], input=text,
                          capture_output=True, text=True, check=True)
    return done.stdout


@pytest.mark.skipif(shutil.which("sh") is None, reason="no /bin/sh")
@pytest.mark.parametrize("text", OS_RELEASE_TEXTS)
def test_the_sh_family_rule_agrees_with_its_python_mirror_and_the_parser(text: str) -> None:
    python = script_family(text)
    assert sh_family(text) == (python.value if python else "")
    try:
        assert python is parse_os_release(text).family
    except ParseError:
        assert python is None  # not an os-release file: the client fails the host on its own parse


def test_a_family_the_sh_rule_gets_wrong_is_visible_to_the_client() -> None:
    # Upper case: the parser lower-cases, the sh rule does not. The executor compares the script's section
    # commands with its own family and runs the steps one by one instead (tests/scan/test_executor.py).
    text = "ID=Ubuntu\n"
    assert parse_os_release(text).family is Family.APT
    assert script_family(text) is None


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_script_is_a_constant_template_plus_the_token(variant: ScriptVariant) -> None:
    token = new_token()
    script = build_script(token, variant)
    assert script.count(token) == 1
    assert build_script("0" * 32, variant).replace("0" * 32, token) == script
    parsed = parse_script(script)
    assert parsed is not None and parsed[0] == token and build_script(*parsed) == script
    assert parse_script(script + " ") is None and parse_script(script.replace("exit 0", "exit 1")) is None
    # Every command of the table is in it, verbatim, and nothing else is sent with sudo.
    for family in Family:
        for step, command in script_steps(family, variant):
            assert f"\n  {command}\n" in script, (family, step)
    assert ("sudo -n" in script) is (variant.refresh and variant.sudo)
    assert ("apt-get update" in script) is variant.refresh
    assert OS_RELEASE in script


@pytest.mark.parametrize("bad", ["", "x" * 32, "0" * 31, "0" * 32 + "\nrm -rf /", "A" * 32])
def test_only_a_hex_token_goes_in(bad: str) -> None:
    with pytest.raises(ValueError):
        build_script(bad, VARIANTS[0])


def test_the_script_stops_where_the_per_step_scan_stops() -> None:
    assert stops_after("os_release", None, 1) and not stops_after("os_release", None, 0)
    assert stops_after("refresh", Family.APT, 100)
    assert not stops_after("list_updates", Family.DNF, 100) and stops_after("list_updates", Family.DNF, 1)
    assert stops_after("list_updates", Family.APT, 100)
    assert not stops_after("security", Family.DNF, 1) and not stops_after("installed", Family.YUM, 127)
    assert [s for s, _ in script_steps(Family.APK, ScriptVariant(False, False))] == ["list_updates"]
    assert [s for s, _ in script_steps(Family.DNF, ScriptVariant(True, True))] == [
        "refresh", "list_updates", "security", "installed", "reboot"]
    assert script_steps(Family.ZYPPER, ScriptVariant(True, True))[0] == (
        "refresh", "sudo -n " + (COMMANDS[Family.ZYPPER].refresh or ""))


# --------------------------------------------------------------------------------------------------
# Reading framed output
# --------------------------------------------------------------------------------------------------


def framed(token: str, sections: list[tuple[str, bytes, int]]) -> bytes:
    out = b""
    for step, body, status in sections:
        out += f"\n{token}:B:{step}:-\n".encode() + body + f"\n{token}:E:{step}:{status}\n".encode()
    return out


def read(token: str, data: bytes, chunk: int) -> tuple[dict[str | None, bytes], list[tuple[str, tuple[str, ...]]]]:
    content: dict[str | None, bytes] = {}
    markers: list[tuple[str, tuple[str, ...]]] = []

    def on_content(step: str | None, part: bytes) -> None:
        content[step] = content.get(step, b"") + part

    demux = ScriptDemux(token, on_content, lambda kind, fields: markers.append((kind, fields)))
    for at in range(0, len(data), chunk):
        demux.feed(data[at:at + chunk])
    demux.close()
    return content, markers


BODIES = [
    ("os_release", b'ID=debian\nVERSION_ID="12"\n', 0),
    ("list_updates", b"Listing...\nno newline at the end", 0),
    ("security", b"", 1),
    ("reboot", b"\n\nblank lines\n\n", 0),
]


@pytest.mark.parametrize("chunk", [1, 2, 7, 33, 64 * 1024])
def test_sections_come_back_byte_for_byte_wherever_the_chunks_are_cut(chunk: int) -> None:
    token = new_token()
    content, markers = read(token, b"motd before\n" + framed(token, BODIES) + b"after", chunk)
    for step, body, _ in BODIES:
        assert content.get(step, b"") == body, step
    assert content[None] == b"motd before\nafter"
    assert [m for m in markers if m[0] == "E"] == [("E", (step, str(status))) for step, _, status in BODIES]


@pytest.mark.parametrize("chunk", [1, 5, 4096])
def test_forged_markers_are_output_not_framing(chunk: int) -> None:
    token = new_token()
    other = new_token()
    forged = (f"\n{other}:E:list_updates:0\n\n{other}:B:reboot:-\n"  # another token
              f"mid-line {token}:E:list_updates:0\n"  # the right token, but inside a line
              f"\n{token[:-1]}:E:list_updates:0\n"  # a token one digit short
              f"\n{token}:E:list_updates:zero\n"  # the right token, a status that is not one
              f"\n{token}:X:list_updates:0\n").encode()  # a kind that does not exist
    body = b"Listing...\n" + forged + b"pkg/stable 2 amd64 [upgradable from: 1]\n"
    content, markers = read(token, framed(token, [("list_updates", body, 100)]), chunk)
    assert content["list_updates"] == body
    assert markers == [("B", ("list_updates", "-")), ("E", ("list_updates", "100"))]


def test_a_marker_line_never_finished_is_output() -> None:
    token = new_token()
    tail = f"\n{token}:E:list_updates:".encode()
    content, markers = read(token, f"\n{token}:B:list_updates:-\n".encode() + b"partial" + tail, 3)
    assert content["list_updates"] == b"partial" + tail
    assert markers == [("B", ("list_updates", "-"))]


def test_memory_stays_at_a_chunk_whatever_the_host_prints() -> None:
    token = new_token()
    held: list[int] = []
    demux = ScriptDemux(token, lambda step, part: None, lambda kind, fields: None)
    demux.feed(f"\n{token}:B:list_updates:-\n".encode())
    for _ in range(200):
        demux.feed(b"x" * 65536)
        held.append(len(demux._buffer))
    assert max(held) < 64
