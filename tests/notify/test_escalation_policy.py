"""A scenario's ``[scenario.escalation]`` in people.toml: parsed into an EscalationPolicy, every rule enforced."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.domain.alarm import DEFAULT_REPEAT_S, EscalationPolicy, EscalationStep
from console.errors import ValidationError
from console.notify.people import Directory, merge, parse_people_toml
from console.notify.recipients import check_escalation_modes

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "examples" / "people.toml"

PEOPLE = """
[[person]]
name = "li.na"
email = "li.na@example.com"
mobile = "+8613800000001"

[[person]]
name = "wu"
email = "wu@example.com"

[[scenario]]
name = "patch-shift"
  [[scenario.role]]
  name = "on-duty"
  rotation = "fixed"
  people = ["wu"]
  [[scenario.role]]
  name = "lead"
  rotation = "fixed"
  people = ["li.na"]
"""

FULL = PEOPLE + """
  [scenario.escalation]
  repeat = "1h30m"
  ack_timeout = "8h"
  loops = 2
    [[scenario.escalation.step]]
    after = "15m"
    roles = ["lead"]
    people = ["li.na"]
    modes = ["sms"]
    [[scenario.escalation.step]]
    after = 600
    people = ["wu"]
"""

SCENARIO = "scenario[patch-shift]"


def _escalation(body: str) -> str:
    return PEOPLE + "\n  [scenario.escalation]\n" + body


def _step(body: str) -> str:
    return _escalation(f"    [[scenario.escalation.step]]\n{body}")


def _problems(text: str) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_people_toml(text)
    return {e.field: e.rule for e in caught.value.errors}


# ------------------------------------------------------------------------------------------------ parsing


def test_a_full_table_becomes_the_scenarios_policy() -> None:
    scenario = parse_people_toml(FULL).scenarios["patch-shift"]
    assert scenario.escalation == EscalationPolicy(
        steps=(EscalationStep(900, roles=("lead",), people=("li.na",), modes=("sms",)),
               EscalationStep(600, people=("wu",))),
        loops=2, repeat=5400, ack_timeout=8 * 3600)


def test_without_the_table_the_engine_uses_the_default_policy() -> None:
    assert parse_people_toml(PEOPLE).scenarios["patch-shift"].escalation is None


def test_defaults_of_an_empty_table() -> None:
    policy = parse_people_toml(_escalation("")).scenarios["patch-shift"].escalation
    assert policy == EscalationPolicy(steps=(), loops=0, repeat=DEFAULT_REPEAT_S, ack_timeout=None)


def test_off_turns_reminders_and_acknowledgement_timeouts_off() -> None:
    policy = parse_people_toml(_escalation('repeat = "off"\nack_timeout = "OFF"\n')).scenarios["patch-shift"]
    assert policy.escalation is not None
    assert (policy.escalation.repeat, policy.escalation.ack_timeout) == (None, None)


def test_the_example_file_documents_the_table() -> None:
    policy = parse_people_toml(EXAMPLE.read_text()).scenarios["patch-duty"].escalation
    assert policy is not None and policy.steps and policy.steps[0].after == 900


# ------------------------------------------------------------------------------------------------ rules


@pytest.mark.parametrize("body, field, words", [
    ('colour = "red"\n', f"{SCENARIO}.escalation.colour", "unknown key"),
    ("loops = 11\n", f"{SCENARIO}.escalation.loops", "from 0 to 10"),
    ("loops = -1\n", f"{SCENARIO}.escalation.loops", "from 0 to 10"),
    ("loops = true\n", f"{SCENARIO}.escalation.loops", "from 0 to 10"),
    ('loops = "2"\n', f"{SCENARIO}.escalation.loops", "from 0 to 10"),
    ('repeat = "30s"\n', f"{SCENARIO}.escalation.repeat", "at least 1 minute"),
    ("repeat = 59\n", f"{SCENARIO}.escalation.repeat", "at least 1 minute"),
    ('repeat = "soon"\n', f"{SCENARIO}.escalation.repeat", "must be a duration"),
    ('ack_timeout = "10s"\n', f"{SCENARIO}.escalation.ack_timeout", "at least 1 minute"),
    ('ack_timeout = "never"\n', f"{SCENARIO}.escalation.ack_timeout", "must be a duration"),
    ('step = "x"\n', f"{SCENARIO}.escalation.step", "must be a list"),
])
def test_a_policy_rule_broken(body: str, field: str, words: str) -> None:
    problems = _problems(_escalation(body))
    assert list(problems) == [field] and words in problems[field]


@pytest.mark.parametrize("body, field, words", [
    ('after = "15m"\nroles = ["lead"]\nwhen = "now"\n', "step[0].when", "unknown key"),
    ('roles = ["lead"]\n', "step[0].after", "required"),
    ('after = "soon"\nroles = ["lead"]\n', "step[0].after", "must be a duration"),
    ('after = 0\nroles = ["lead"]\n', "step[0].after", "positive"),
    ('after = "15m"\nroles = ["boss"]\n', "step[0].roles[0]", "no role 'boss'"),
    ('after = "15m"\npeople = ["nobody"]\n', "step[0].people[0]", "unknown person 'nobody'"),
    ('after = "15m"\nroles = ["lead"]\nmodes = ["SMS!"]\n', "step[0].modes[0]", "not a notification mode"),
    ('after = "15m"\nroles = ["lead"]\nmodes = ["sms", "sms"]\n', "step[0].modes[1]", "listed twice"),
    ('after = "15m"\n', "step[0]", "roles and/or people"),
    ('after = "15m"\nroles = []\npeople = []\n', "step[0]", "roles and/or people"),
])
def test_a_step_rule_broken(body: str, field: str, words: str) -> None:
    problems = _problems(_step(body))
    assert list(problems) == [f"{SCENARIO}.escalation.{field}"] and words in problems[f"{SCENARIO}.escalation.{field}"]


def test_a_role_of_another_scenario_is_not_a_role_of_this_one() -> None:
    other = ('\n[[scenario]]\nname = "other"\n  [[scenario.role]]\n  name = "boss"\n  rotation = "fixed"\n'
             '  people = ["wu"]\n')
    problems = _problems(_step('after = "15m"\nroles = ["boss"]\n') + other)
    assert list(problems) == [f"{SCENARIO}.escalation.step[0].roles[0]"]


def test_at_most_twenty_steps() -> None:
    steps = "".join('    [[scenario.escalation.step]]\n    after = "1m"\n    roles = ["lead"]\n' for _ in range(21))
    assert list(_problems(_escalation(steps))) == [f"{SCENARIO}.escalation.step"]
    twenty = parse_people_toml(_escalation(steps.rsplit("    [[scenario", 1)[0]))
    assert len(twenty.scenarios["patch-shift"].escalation.steps) == 20  # type: ignore[union-attr]


def test_every_problem_at_once_and_nothing_stored() -> None:
    text = _escalation('loops = 99\nrepeat = "5s"\n    [[scenario.escalation.step]]\n    after = "x"\n'
                       '    roles = ["boss"]\n    people = ["nobody"]\n')
    assert set(_problems(text)) == {f"{SCENARIO}.escalation.{f}" for f in
                                    ("loops", "repeat", "step[0].after", "step[0].roles[0]", "step[0].people[0]")}


def test_a_bad_table_type_is_reported() -> None:
    text = PEOPLE.replace('name = "patch-shift"\n', 'name = "patch-shift"\nescalation = "fast"\n')
    assert list(_problems(text)) == [f"{SCENARIO}.escalation"]


# ------------------------------------------------------------------------------------------------ storage


def test_it_round_trips_through_to_dict_and_from_dict() -> None:
    directory = parse_people_toml(FULL)
    doc = directory.to_dict()
    assert doc["scenario"][0]["escalation"]["repeat"] == "1h30m"
    assert Directory.from_dict(doc) == directory
    off = parse_people_toml(_escalation('repeat = "off"\n'))
    assert Directory.from_dict(off.to_dict()) == off
    assert "escalation" not in parse_people_toml(PEOPLE).to_dict()["scenario"][0]


def test_merge_keeps_a_policy_and_an_import_of_the_scenario_replaces_it() -> None:
    existing = parse_people_toml(FULL)
    unrelated = parse_people_toml('[[person]]\nname = "zed"\n[[scenario]]\nname = "night"\n'
                                  '  [[scenario.role]]\n  name = "watch"\n  rotation = "fixed"\n  people = ["zed"]\n')
    merged = merge(existing, unrelated)
    assert merged.scenarios["patch-shift"].escalation == existing.scenarios["patch-shift"].escalation
    assert Directory.from_dict(merged.to_dict()) == merged
    replaced = merge(existing, parse_people_toml(PEOPLE))
    assert replaced.scenarios["patch-shift"].escalation is None


# ------------------------------------------------------------------------------------------------ modes


def test_step_modes_are_checked_against_the_configured_channels() -> None:
    directory = parse_people_toml(_step('after = "15m"\nroles = ["lead"]\nmodes = ["sms", "emial", "slack"]\n'))
    with pytest.raises(ValidationError) as caught:
        check_escalation_modes(directory, ["email", "slack"])
    assert [(e.field, "'emial' is not a mode" in e.rule) for e in caught.value.errors] == [
        (f"{SCENARIO}.escalation.step[0].modes[1]", True)]
    check_escalation_modes(directory, ["slack", "emial"])  # both provided: nothing to say
