"""A hostile simulated host: everything it controls carries terminal escapes, OSC sequences, bidi overrides
and Rich markup, while staying parseable, so a scan of it succeeds and every output can be checked for what
reaches the operator's terminal.

Why a host option and not a fault kind: a hostile host is not a failure category (it scans fine), and adding
a kind to ``FAULTS`` would reshuffle the seeded fault plans other tests rely on. ``Fleet.hostile`` holds the
names of the hosts that answer this way (``fleet.hostile.add(name)`` on a started fleet).
"""

from __future__ import annotations

import re

from console.sim.distros import Reply

#: Each piece a terminal or Rich would obey if it reached them raw.
TITLE = "\x1b]0;pwned-title\x07"  # OSC 0: sets the window / tmux pane title
LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"  # OSC 8 hyperlink
CURSOR = "\x1b[2J\x1b[H"  # clear screen, cursor home
C1_CSI = "\x9b31m"  # the 8-bit CSI: red on terminals that honour C1
BIDI = "\u202egnp.exe\u202c"  # right-to-left override: shows as "exe.png"
MARKUP = "[bold red]ALERT[/bold red][link=https://evil.example]x[/link]"
HOSTILE = TITLE + LINK + CURSOR + C1_CSI + BIDI + MARKUP

_PRETTY = re.compile(r'^PRETTY_NAME="[^"\n]*"', re.MULTILINE)


def hostile_reply(reply: Reply) -> Reply:
    """``reply`` with the hostile text planted where a scanner reads it: the OS name in ``/etc/os-release``
    (quoted, so the file still parses) and stderr; other output gets a hostile line appended."""
    stdout = reply.stdout
    if _PRETTY.search(stdout):
        stdout = _PRETTY.sub(lambda _: f'PRETTY_NAME="Hostile {HOSTILE} Linux"', stdout, count=1)
    return Reply(stdout=stdout, stderr=reply.stderr + f"warning: {HOSTILE}\n", exit_status=reply.exit_status)


def is_raw(text: str, *, markup: bool = True) -> bool:
    """Whether ``text`` still holds something from :data:`HOSTILE` a terminal would obey: an ESC, a BEL, a C1
    control or a bidi override; with ``markup``, also an unescaped Rich tag (JSON output is not rendered as
    markup by anything, so it is checked with ``markup=False``)."""
    if any(ch in text for ch in ("\x1b", "\x9b", "\x07", "\u202e")):
        return True
    return markup and "[bold red]ALERT" in text.replace("\\[bold red]", "")
