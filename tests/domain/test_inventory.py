"""Inventory import: realistic files of each format, precedence, ranges, and every broken input with its line.

The rule under test above all: an inventory with any problem raises InventoryError listing all of them
(each with the line an operator opens in an editor) and yields no targets, so a bad import changes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.domain.inventory import (
    InventoryError,
    InventoryProblem,
    address_problem,
    detect_format,
    expand_hosts,
    parse_inventory,
)
from console.errors import FieldError, ValidationError
from console.jobs import Target

FIXTURES = Path(__file__).parent / "fixtures" / "inventory"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def by_name(targets: list[Target]) -> dict[str, Target]:
    return {t.name: t for t in targets}


def problems_of(text: str, fmt: str = "auto", source: str = "inventory") -> list[InventoryProblem]:
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, source=source, fmt=fmt)  # type: ignore[arg-type]
    return info.value.problems


# The fleet both Ansible fixtures describe (hosts.ini and hosts.yml are the same inventory).
FLEET_DEFAULTS = {"owner": "platform team", "site": "fra1"}
WEB = dict(port=2222, user="produser", credential="dc-default", groups=("datacenter", "prod", "web"))
DB = dict(port=22, user="produser", credential="dc-default", groups=("datacenter", "db", "prod"))
EXPECTED_FLEET = {
    "bastion.example.com": Target("bastion.example.com", "bastion.example.com", 2022, "ops", None, ("ungrouped",),
                                  {"owner": "platform team"}),
    **{f"web0{i}.example.com": Target(f"web0{i}.example.com", f"web0{i}.example.com", **WEB,  # type: ignore[arg-type]
                                      labels={**FLEET_DEFAULTS, "tier": "web"}) for i in (1, 2, 3)},
    "web-canary.example.com": Target("web-canary.example.com", "10.20.0.50", **WEB,  # type: ignore[arg-type]
                                     labels={**FLEET_DEFAULTS, "tier": "web", "canary": "true"}),
    **{f"db-{c}.example.com": Target(f"db-{c}.example.com", f"db-{c}.example.com", **DB,  # type: ignore[arg-type]
                                     labels={**FLEET_DEFAULTS, "tier": "prod"}) for c in "abc"},
    "db-primary": Target("db-primary", "10.30.0.10", 5433, "produser", "db-admin", ("datacenter", "db", "prod"),
                         {**FLEET_DEFAULTS, "tier": "prod", "role": "primary writer"}),
    "lb1.example.com": Target("lb1.example.com", "lb1.example.com", 8022, "haproxy", "dc-default",
                              ("datacenter", "lb"), {**FLEET_DEFAULTS, "tier": "datacenter"}),
}


# ------------------------------------------------------------------------------------------ realistic files


def test_ini_fixture_resolves_groups_children_vars_and_ranges() -> None:
    targets = parse_inventory(fixture("hosts.ini"), source="hosts.ini")
    assert by_name(targets) == EXPECTED_FLEET
    # Order of first appearance in the file, ranges expanded in place.
    assert [t.name for t in targets][:5] == ["bastion.example.com", "web01.example.com", "web02.example.com",
                                             "web03.example.com", "web-canary.example.com"]


def test_yaml_fixture_is_the_same_fleet_as_the_ini_fixture() -> None:
    targets = parse_inventory(fixture("hosts.yml"), source="hosts.yml")
    assert by_name(targets) == EXPECTED_FLEET


def test_ssh_config_fixture_applies_host_star_defaults_first_value_wins() -> None:
    targets = parse_inventory(fixture("ssh_config"), source="ssh_config")
    assert [t.name for t in targets] == ["bastion", "web-1", "web-2", "db1", "ipv6-box"]
    got = by_name(targets)
    default_key = {"identity_file": "~/.ssh/id_ed25519"}
    assert got["bastion"] == Target("bastion", "203.0.113.10", 2022, "ops", None, ("ssh_config",), default_key)
    # %h expands to the host name; "Host web-* !web-2" gives web-1 its user, but not web-2 (negated).
    assert got["web-1"] == Target("web-1", "web-1.corp.example.com", 22, "deploy", None, ("ssh_config",), default_key)
    assert got["web-2"] == Target("web-2", "web-2.corp.example.com", 22, "admin", None, ("ssh_config",), default_key)
    # Key=Value form, lower-case keyword, quoted IdentityFile with a space; Host * does not override them.
    assert got["db1"] == Target("db1", "10.30.0.11", 22, "postgres", None, ("ssh_config",),
                                {"identity_file": "~/.ssh/keys/db ed25519"})
    assert got["ipv6-box"].address == "2001:db8::42"
    assert got["ipv6-box"].user == "admin"


def test_ssh_config_named_config_is_detected_and_match_blocks_are_skipped() -> None:
    text = "Match all\n  User nobody\n  HostName 10.9.9.9\nhost Alpha beta\n  PORT 2200\n"
    targets = parse_inventory(text, source="/home/ops/.ssh/config")
    assert [(t.name, t.address, t.port, t.user) for t in targets] == [("Alpha", "Alpha", 2200, None),
                                                                      ("beta", "beta", 2200, None)]


def test_ssh_settings_before_the_first_host_line_apply_to_every_host() -> None:
    targets = parse_inventory("User root\nPort 2022\n\nHost a\n  User other\n", fmt="ssh_config")
    assert (targets[0].user, targets[0].port) == ("root", 2022)


def test_ssh_wildcard_only_config_has_no_hosts() -> None:
    assert problems_of("Host *\n  User admin\nHost *.example.com ?db\n  Port 22\n", fmt="ssh_config") == [
        InventoryProblem(None, "no hosts found")]


# ----------------------------------------------------------------------------------------------- precedence


def test_child_group_vars_override_parent_and_host_vars_override_groups() -> None:
    text = (
        "[leaf]\nh1\nh2 ansible_user=hostlevel\n"
        "[mid:children]\nleaf\n[top:children]\nmid\n"
        "[top:vars]\nansible_user=top\nansible_port=2000\ncolor=red\n"
        "[mid:vars]\nansible_user=mid\ncolor=green\n"
        "[leaf:vars]\ncolor=blue\n"
    )
    got = by_name(parse_inventory(text, fmt="ini"))
    assert (got["h1"].user, got["h1"].port, got["h1"].labels) == ("mid", 2000, {"color": "blue"})
    assert got["h2"].user == "hostlevel"
    assert got["h1"].groups == ("leaf", "mid", "top")


def test_groups_of_the_same_depth_apply_in_name_order() -> None:
    # Ansible merges sibling groups alphabetically, so "zeta" (applied last) wins over "alpha".
    text = "[zeta]\nh1\n[alpha]\nh1\n[zeta:vars]\nansible_port=2200\n[alpha:vars]\nansible_port=2100\n"
    assert parse_inventory(text, fmt="ini")[0].port == 2200


def test_yaml_precedence_matches_ini() -> None:
    text = (
        "all:\n  vars: {ansible_user: everyone}\n  children:\n    top:\n      vars: {ansible_user: top, x: 1}\n"
        "      children:\n        leaf:\n          vars: {x: 2}\n          hosts:\n            h1:\n"
        "            h2: {ansible_user: me}\n"
    )
    got = by_name(parse_inventory(text, fmt="yaml"))
    assert (got["h1"].user, got["h1"].labels) == ("top", {"x": "2"})
    assert got["h2"].user == "me"


def test_a_host_listed_in_several_groups_gets_all_of_them_and_ungrouped_only_when_alone() -> None:
    text = "early\nweb1\n[web]\nweb1\n[db]\nweb1 ansible_host=10.0.0.1\n[other:children]\ndb\n"
    got = by_name(parse_inventory(text, fmt="ini"))
    assert got["web1"].groups == ("db", "other", "web")
    assert got["web1"].address == "10.0.0.1"
    assert got["early"].groups == ("ungrouped",)


def test_repeating_a_host_with_the_same_connection_values_is_fine() -> None:
    text = "[a]\nh1 ansible_host=10.0.0.1 ansible_port=22\n[b]\nh1 ansible_host=10.0.0.1 ansible_ssh_port=22 x=1\n"
    (target,) = parse_inventory(text, fmt="ini")
    assert (target.address, target.port, target.groups, target.labels) == ("10.0.0.1", 22, ("a", "b"), {"x": "1"})


def test_ini_values_quoting_and_comments() -> None:
    text = ("h1 motd='hello world' color=#fff path=\"a\\\"b\" # trailing comment\n"
            "[all:vars]\nbanner = \"quoted # not a comment\"\nplain = some text # comment\n")
    (target,) = parse_inventory(text, fmt="ini")
    assert target.labels == {"banner": "quoted # not a comment", "plain": "some text", "motd": "hello world",
                             "color": "#fff", "path": 'a"b'}


def test_yaml_labels_are_strings_and_merge_keys_work() -> None:
    text = (
        "all:\n  hosts:\n    h1:\n      <<: &common {ansible_port: 2022, owner: ops}\n"
        "      flag: false\n      count: 3\n      ratio: 0.5\n      empty:\n      list: [b, a]\n"
        "      secret: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6162\n"
        "      raw: !unsafe '{{ not a template }}'\n"
    )
    (target,) = parse_inventory(text, fmt="yaml")
    assert target.port == 2022
    assert target.labels == {"owner": "ops", "flag": "false", "count": "3", "ratio": "0.5", "empty": "",
                             "list": '["b", "a"]', "raw": "{{ not a template }}"}


def test_yaml_top_level_groups_other_than_all_are_accepted() -> None:
    got = parse_inventory("web:\n  hosts:\n    w1:\ndb:\n  hosts:\n    d1:\n", fmt="yaml")
    assert [(t.name, t.groups) for t in got] == [("w1", ("web",)), ("d1", ("db",))]


# -------------------------------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(("pattern", "expected"), [
    ("web[01:03].example.com", ["web01.example.com", "web02.example.com", "web03.example.com"]),
    ("node[8:10]", ["node8", "node9", "node10"]),
    ("db-[a:c]", ["db-a", "db-b", "db-c"]),
    ("DB-[X:Z]", ["DB-X", "DB-Y", "DB-Z"]),
    ("n[0:6:3]", ["n0", "n3", "n6"]),
    ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),
    ("plain.example.com", ["plain.example.com"]),
])
def test_expand_hosts(pattern: str, expected: list[str]) -> None:
    assert expand_hosts(pattern) == expected


def test_range_with_port_in_ini() -> None:
    got = parse_inventory("web[1:2]:2222\n", fmt="ini")
    assert [(t.name, t.port) for t in got] == [("web1", 2222), ("web2", 2222)]


# ------------------------------------------------------------------------------------------- broken inputs

# (format, text, expected line, a fragment the message must contain)
BROKEN: list[tuple[str, str, int | None, str]] = [
    # --- INI
    ("ini", "[web]\nh1 ansible_port=99999\n", 2, "ansible_port=99999 is out of range 1-65535"),
    ("ini", "[web]\nh1 ansible_port=0\n", 2, "ansible_port=0 is out of range 1-65535"),
    ("ini", "[web]\nh1 ansible_port=ssh\n", 2, "ansible_port=ssh is not a port number"),
    ("ini", "h0\n[web]\nh1 ansible_host\n", 3, "broken variable 'ansible_host' on host line: expected key=value"),
    ("ini", "h1 =10.0.0.1\n", 1, "missing the name before '='"),
    ("ini", "h1 ansible-host=10.0.0.1\n", 1, "invalid variable name 'ansible-host'"),
    ("ini", "h0\n\nh1 motd='unclosed\n", 3, "unterminated ' quote"),
    ("ini", "[web]\nweb[01:03.example.com\n", 2, "unterminated range in host pattern 'web[01:03.example.com'"),
    ("ini", "web[1-3]\n", 1, "invalid range [1-3]"),
    ("ini", "web[3:1]\n", 1, "start is after end"),
    ("ini", "web[01:100]\n", 1, "zero-padded start"),
    ("ini", "web[a:C]\n", 1, "single letters of the same case"),
    ("ini", "web[0:99999999]\n", 1, "expands to more than 10000 hosts"),
    ("ini", "h1\n[web\nh2\n", 2, "section header '[web' is missing the closing ']'"),
    ("ini", "h1\n[web]extra\n", 2, "invalid section header '[web]extra'"),
    ("ini", "h1\n[web:hostvars]\n", 2, "unknown type 'hostvars'"),
    ("ini", "h1\n[we b]\n", 2, "invalid group name 'we b'"),
    ("ini", "[web]\nweb$1.example.com\n", 2, "host name 'web$1.example.com' contains characters outside "
                                              "[A-Za-z0-9_.:@-]: '$'"),
    ("ini", "-web\n", 1, "must start with a letter, a digit or '_'"),
    ("ini", "h1 ansible_host=10.0.0.300\n", 1, "ansible_host=10.0.0.300 is not a valid IPv4 address"),
    ("ini", "h1 ansible_host=bad_host!\n", 1, "ansible_host=bad_host! is not a valid host name or IP address"),
    ("ini", "h1 ansible_host=\n", 1, "ansible_host is empty"),
    ("ini", "h1 ansible_user=''\n", 1, "ansible_user is empty"),
    ("ini", "h1 ansible_user=a ansible_ssh_user=b\n", 1, "ansible_ssh_user=b conflicts with ansible_user=a"),
    ("ini", "h1:22 ansible_port=23\n", 1, "port 22 in 'h1:22' conflicts with ansible_port=23"),
    ("ini", "h1:70000\n", 1, "port 70000 in 'h1:70000' is out of range 1-65535"),
    ("ini", "[a]\nh1 ansible_host=10.0.0.1\n[b]\nh1 ansible_host=10.0.0.2\n", 4,
     "host 'h1' is defined again with ansible_host=10.0.0.2, but line 2 set ansible_host=10.0.0.1"),
    ("ini", "[a]\nh1 ansible_port=22\n\n[b]\nh1 ansible_port=2222\n", 5,
     "host 'h1' is defined again with ansible_port=2222, but line 2 set ansible_port=22"),
    ("ini", "[a]\nh1:2200\n[b]\nh1:2201\n", 4, "host 'h1' is defined again with ansible_port=2201"),
    ("ini", "h1\n[web:vars]\nansible_port=65536\n", 3, "ansible_port=65536 is out of range 1-65535"),
    ("ini", "h1\n[web:vars]\njust words\n", 3, "expected key=value in [web:vars], got 'just words'"),
    ("ini", "h1\n[web:vars]\nmotd=\"open\n", 3, "unterminated \" quote in the value of motd"),
    ("ini", "h1\n[web:children]\nh1 ansible_host=x\n", 3, "expected one group name in [web:children]"),
    ("ini", "h1\n[web:children]\nall\n", 3, "group 'all' cannot be a child of 'web'"),
    ("ini", "[a]\nh1\n[a:children]\nb\n[b:children]\nc\n[c:children]\na\n", 8, "group cycle: a -> b -> c -> a"),
    ("ini", "[a]\nh1\n[a:children]\na\n", 4, "group cycle: a -> a"),
    ("ini", "name@with:colon\n", 1, "host 'name@with:colon' has no ansible_host and its name is not a valid"),
    ("ini", "# only a comment\n\n[web]\n[web:vars]\nx=1\n", None, "no hosts found"),
    # --- YAML
    ("yaml", "all:\n  hosts:\n    h1:\n      ansible_port: 99999\n", 4, "ansible_port=99999 is out of range"),
    ("yaml", "all:\n  hosts:\n    h1:\n      ansible_port: yes\n", 4, "ansible_port=true is not a port number"),
    ("yaml", "all:\n  hosts:\n    h1: {ansible_host: [a, b]}\n", 3, "ansible_host must be a single value"),
    ("yaml", "all:\n  hosts:\n    h1:\n    h2: 10.0.0.2\n", 4, "host 'h2' must map to its variables"),
    ("yaml", "all:\n  hosts:\n    - h1\n    - h2\n", 3, "hosts of group 'all' must be a mapping of host names "
                                                    "(got a list)"),
    ("yaml", "all:\n  children:\n    web:\n      h1:\n", 4, "unknown key 'h1' in group 'web'"),
    ("yaml", "all:\n  children:\n    web: [h1]\n", 3, "group 'web' must be a mapping"),
    ("yaml", "all:\n  hosts:\n    h1:\n      x: 1\n      x: 2\n", 5, "duplicate key 'x' (first at line 4)"),
    ("yaml", "all:\n  hosts:\n    h1:\n  vars:\n    ansible_user: a\n    ansible_ssh_user: b\n", 6,
     "ansible_ssh_user=b conflicts with ansible_user=a"),
    ("yaml", "all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1\n  children:\n    web:\n      hosts:\n"
             "        h1:\n          ansible_host: 10.0.0.2\n", 9,
     "host 'h1' is defined again with ansible_host=10.0.0.2"),
    ("yaml", "all:\n  hosts:\n    bad host:\n", 3, "host name 'bad host' contains characters outside"),
    ("yaml", "all:\n  hosts:\n    web[01:03.x:\n", 3, "unterminated range"),
    ("yaml", "all:\n  hosts:\n    h1:\n      ansible_port: 22\n     bad: indent\n", 5, "YAML syntax error"),
    ("yaml", "all:\n  hosts: [h1\n  vars: {}\n", 3,
     "YAML syntax error: while parsing a flow sequence (line 2), expected ',' or ']', but got ':'"),
    ("yaml", "all:\n  hosts:\n\th1:\n", 3, "YAML syntax error"),
    ("yaml", "all: {}\n---\nmore: {}\n", 2,
     "expected a single document in the stream (line 1), but found another document"),
    ("yaml", "- h1\n- h2\n", 1, "the top level must be a mapping of groups"),
    ("yaml", "all:\n  hosts:\n    h1:\n      key: !vault |\n        abc\n      ansible_user: !vault |\n        x\n", 6,
     "ansible_user is vault-encrypted"),
    ("yaml", "all:\n  hosts:\n    h1:\n      x: !python/object:os.system ls\n", 4, "cannot read the value of x"),
    ("yaml", "all:\n  children:\n    a:\n      children:\n        b:\n          children:\n            a:\n"
             "          hosts:\n            h1:\n", 7, "group cycle: a -> b -> a"),
    ("yaml", "all:\n  children:\n    web:\n", None, "no hosts found"),
    ("yaml", "# nothing here\n", None, "no hosts found"),
    # --- OpenSSH client config
    ("ssh_config", "Host a\n  Port 99999\n", 2, "Port 99999 is out of range 1-65535"),
    ("ssh_config", "Host a\n  Port=ssh\n", 2, "Port ssh is not a port number"),
    ("ssh_config", "Host a\n  HostName 10.1.1.256\n", 2, "HostName 10.1.1.256 is not a valid IPv4 address"),
    ("ssh_config", "Host a\n  HostName a b\n", 2, "HostName takes one value, got 2"),
    ("ssh_config", "Host a\n  HostName %r.example.com\n", 2, "token %r is not supported"),
    ("ssh_config", "Host a\n  Hostnme 10.0.0.1\n", 2, "unknown keyword 'Hostnme' (did you mean HostName?)"),
    ("ssh_config", "Host a\n  IdentityFile \"~/.ssh/id\n", 2, "unterminated \" quote"),
    ("ssh_config", "Host ok\nHost\n", 2, "Host has no value"),
    ("ssh_config", "Host ok\n= value\n", 2, "cannot read '= value'"),
    ("ssh_config", "Host web$1\n", 1, "host name 'web$1' contains characters outside [A-Za-z0-9_.:@-]"),
    ("ssh_config", "Host a\n  HostName 10.0.0.1\nHost a\n  HostName 10.0.0.2\n", 4,
     "host 'a' gets HostName 10.0.0.2 here, but line 2 already set 10.0.0.1"),
    ("ssh_config", "Host a\n  Port 22\nHost b a\n  Port 2222\n", 4, "host 'a' gets Port 2222 here"),
]


@pytest.mark.parametrize(("fmt", "text", "line", "fragment"), BROKEN,
                         ids=[f"{fmt}-{i}" for i, (fmt, *_rest) in enumerate(BROKEN)])
def test_broken_input_names_line_and_problem(fmt: str, text: str, line: int | None, fragment: str) -> None:
    problems = problems_of(text, fmt=fmt)
    matching = [p for p in problems if fragment in p.message]
    assert matching, f"no problem mentions {fragment!r}: {problems}"
    assert matching[0].line == line, problems


def test_every_problem_is_reported_at_once_in_line_order_and_nothing_is_returned() -> None:
    text = (
        "good1\n"                                  # 1
        "[web]\n"                                  # 2
        "web1 ansible_port=99999\n"                # 3
        "web2 broken\n"                            # 4
        "web[1:3.example.com\n"                    # 5
        "[db\n"                                    # 6
        "db$1\n"                                   # 7
        "[web:vars]\n"                             # 8
        "ansible_host=not_an_address!\n"           # 9
    )
    result: list[Target] | None = None
    with pytest.raises(InventoryError) as info:
        result = parse_inventory(text, source="hosts.ini")
    assert result is None
    err = info.value
    assert [p.line for p in err.problems] == [3, 4, 5, 6, 7, 9]
    assert isinstance(err, ValidationError)
    assert err.errors[0] == FieldError("hosts.ini:3", "ansible_port=99999 is out of range 1-65535")
    assert [e.field for e in err.errors] == [f"hosts.ini:{n}" for n in (3, 4, 5, 6, 7, 9)]
    assert "hosts.ini:6: section header '[db' is missing the closing ']'" in str(err)


def test_a_good_file_with_one_bad_line_returns_nothing() -> None:
    text = fixture("hosts.ini") + "\n[late]\nlate1 ansible_port=99999\n"
    problems = problems_of(text, source="hosts.ini")
    assert problems == [InventoryProblem(text.count("\n"), "ansible_port=99999 is out of range 1-65535")]


def test_problems_without_a_line_use_the_bare_file_name() -> None:
    with pytest.raises(InventoryError) as info:
        parse_inventory("", source="hosts")
    assert info.value.errors == [FieldError("hosts", "no hosts found")]


# --------------------------------------------------------------------------------------- YAML line numbers


def test_yaml_problems_point_at_the_offending_node_in_a_nested_file() -> None:
    text = fixture("hosts.yml").replace("ansible_port: 5433", "ansible_port: 0").replace(
        "ansible_host: 10.20.0.50", "ansible_host: 10.20.0.500")
    lines = text.splitlines()
    port_line = lines.index("                  ansible_port: 0") + 1
    host_line = lines.index("                  ansible_host: 10.20.0.500") + 1
    assert problems_of(text, source="hosts.yml") == [
        InventoryProblem(host_line, "ansible_host=10.20.0.500 is not a valid IPv4 address"),
        InventoryProblem(port_line, "ansible_port=0 is out of range 1-65535"),
    ]


def test_yaml_syntax_error_reports_its_line() -> None:
    text = fixture("hosts.yml").replace("      children:\n        prod:", "      children:\n        prod: [", 1)
    (problem,) = problems_of(text, source="hosts.yml")
    assert problem.message.startswith("YAML syntax error")
    assert problem.line is not None and problem.line > 18


def test_yaml_error_with_crlf_line_endings_keeps_line_numbers() -> None:
    text = "all:\r\n  hosts:\r\n    h1:\r\n      ansible_port: 99999\r\n"
    assert problems_of(text, fmt="yaml")[0].line == 4


def test_ini_crlf_and_bom() -> None:
    text = "\ufeff[web]\r\nh1\r\nh2 ansible_port=99999\r\n"
    assert problems_of(text, fmt="ini") == [InventoryProblem(3, "ansible_port=99999 is out of range 1-65535")]


# ---------------------------------------------------------------------------------------- format detection


@pytest.mark.parametrize(("text", "source", "expected"), [
    ("all:\n  hosts:\n", "inventory.yml", "yaml"),
    ("whatever", "prod.YAML", "yaml"),
    ("Host a\n", "fleet.ini", "ini"),  # the name decides first
    ("web1\n", "/etc/ansible/hosts", "ini"),
    ("anything\n", "config", "ssh_config"),
    ("# fleet\nHost web1\n  HostName 10.0.0.1\n", "fleet.txt", "ssh_config"),
    ("Host=web1\n", "fleet.txt", "ssh_config"),
    ("---\nall:\n", "fleet", "yaml"),
    ("# comment\nall:\n  hosts:\n", "fleet", "yaml"),
    ("web: {hosts: {a: }}\n", "fleet", "yaml"),
    ("[web]\nweb1\n", "fleet", "ini"),
    ("web1 ansible_host=10.0.0.1 # note: primary\n", "fleet", "ini"),
    ("db.example.com:5432\n", "fleet", "ini"),
    ("fe80::1\n", "fleet", "ini"),
    ("", "fleet", "ini"),
])
def test_detect_format(text: str, source: str, expected: str) -> None:
    assert detect_format(text, source) == expected


def test_fixtures_are_detected_by_content_too() -> None:
    assert detect_format(fixture("hosts.ini"), "inventory") == "ini"
    assert detect_format(fixture("hosts.yml"), "inventory") == "yaml"
    assert detect_format(fixture("ssh_config"), "inventory") == "ssh_config"


def test_explicit_format_overrides_detection() -> None:
    # Read as YAML this would be an empty group; read as INI (as asked) it is a host whose name is no address.
    problems = problems_of("all:\n", fmt="ini")
    assert problems == [InventoryProblem(1, "host 'all:' has no ansible_host and its name is not a valid "
                                            "host name or IP address")]


def test_unknown_format_is_a_problem() -> None:
    assert problems_of("h1\n", fmt="toml") == [
        InventoryProblem(None, "unknown inventory format 'toml' (expected auto, ini, yaml or ssh_config)")]


# ----------------------------------------------------------------------------------------------- addresses


@pytest.mark.parametrize("address", ["10.0.0.1", "host.example.com", "host.example.com.", "a", "web_01.lan",
                                     "2001:db8::1", "::1", "fe80::1%eth0", "xn--bcher-kva.example"])
def test_valid_addresses(address: str) -> None:
    assert address_problem(address) is None


@pytest.mark.parametrize("address", ["", "10.0.0", "256.1.1.1", "-bad.example.com", "a..b", "bad host",
                                     "2001:db8:::1", "[::1]", "x" * 64 + ".example.com", "host:22"])
def test_invalid_addresses(address: str) -> None:
    assert address_problem(address) is not None
