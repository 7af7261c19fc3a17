"""The channels file: private on disk, every URL judged by apprise, secrets never in any message or repr."""

from __future__ import annotations

import os
from pathlib import Path

import apprise
import pytest

from console.errors import ValidationError
from console.notify.channels import (
    Channels,
    DeliveryTarget,
    is_mobile,
    load_channels,
    mask,
    parse_channels,
    scheme_of,
    tidy,
    write_channels_file,
)
from console.notify.people import Person

# Recognisable secrets: none of them may ever appear in an error, a repr or a masked URL.
SMTP_PASS = "SmtpPassw0rdZZ"
TWILIO_TOKEN = "TwTok" + "9" * 27
DING_SECRET = "DingSecretQQ77"
DING_TOKEN = "DingTokenWW88"
WECOM_KEY = "WecomKeyEE99"
SLACK_TOKEN = "SlackTokRR55xyz"
SECRETS = (SMTP_PASS, TWILIO_TOKEN, DING_SECRET, DING_TOKEN, WECOM_KEY, SLACK_TOKEN)
TWILIO_SID = "AC" + "a" * 32

GOOD = f"""
[email]
url = "mailtos://ops:{SMTP_PASS}@smtp.example.com:587?from=patchwatch@example.com"
[sms]
url = "twilio://{TWILIO_SID}:{TWILIO_TOKEN}@+15551234567/{{mobile}}"
[wecom]
url = "wecombot://{WECOM_KEY}"
endpoint = "http://127.0.0.1:8080/cgi-bin/webhook/send"
[dingtalk]
url = "dingtalk://{DING_SECRET}@{DING_TOKEN}"
endpoint = "https://robot-proxy.example.com/robot/send"
[other.slack]
url = "slack://T1JJ3T3L2/A1BRTD4JD/{SLACK_TOKEN}"
[other.ntfy]
url = "ntfy://ntfy.example.com/pw-{{wecom}}"
"""

ALICE = Person("alice", email="alice+ops@example.com", mobile="+8613800000001", wecom="alice-w",
               modes=("slack", "email"))
BOB = Person("bob", email="bob@example.com", dingtalk="bob-ding-id")
NOBODY = Person("nobody")


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret!r} leaked into: {text}"


def _errors(text: str, tmp_path: Path) -> ValidationError:
    path = write_channels_file(tmp_path / "channels.toml", text)
    with pytest.raises(ValidationError) as caught:
        load_channels(path)
    _no_secret(str(caught.value))
    return caught.value


def _fields(error: ValidationError) -> dict[str, str]:
    return {e.field: e.rule for e in error.errors}


@pytest.fixture
def channels(tmp_path: Path) -> Channels:
    return load_channels(write_channels_file(tmp_path / "channels.toml", GOOD))


# ------------------------------------------------------------------------------------------------ the file


def test_written_file_is_0600_from_the_start_even_with_a_permissive_umask(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    def no_chmod(*_: object, **__: object) -> None:
        raise AssertionError("the mode must be given to os.open, not set afterwards")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    old = os.umask(0)
    try:
        path = write_channels_file(tmp_path / "channels.toml", GOOD)
        assert (path.stat().st_mode & 0o777) == 0o600
        # replacing it keeps it private, and leaves no temporary file behind
        write_channels_file(path, GOOD + "\n# edited\n")
        assert (path.stat().st_mode & 0o777) == 0o600
        assert path.read_text().endswith("# edited\n")
        assert [p.name for p in tmp_path.iterdir()] == ["channels.toml"]
    finally:
        os.umask(old)
    # apprise needs no section: it sends to the people's own URLs, so it is always a mode.
    assert load_channels(path).modes() == ["email", "sms", "wecom", "dingtalk", "slack", "ntfy", "apprise"]


@pytest.mark.parametrize(("mode", "what"), [(0o644, "readable"), (0o640, "readable"), (0o620, "writable"),
                                            (0o666, "readable and writable"), (0o604, "readable")])
def test_a_file_others_can_read_or_write_is_refused(tmp_path: Path, mode: int, what: str) -> None:
    path = write_channels_file(tmp_path / "channels.toml", GOOD)
    path.chmod(mode)
    with pytest.raises(ValidationError) as caught:
        load_channels(path)
    message = str(caught.value)
    assert f"{path} is {what} by others (mode {mode:04o}): chmod 600 {path}" in message
    _no_secret(message)


def test_missing_and_broken_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_channels(tmp_path / "nope.toml")
    error = _errors(f'[email]\nurl = "mailto://u:{SMTP_PASS}@h\n', tmp_path)
    assert "is not valid TOML" in str(error) and str(tmp_path / "channels.toml") in str(error)


# ------------------------------------------------------------------------------------------------ validation


def test_invalid_url_names_the_field_and_shows_only_the_scheme(tmp_path: Path) -> None:
    error = _errors(f'[other.slack]\nurl = "nosuchservice://{SLACK_TOKEN}@host/x"\n'
                    f'[wecom]\nurl = "wecombot://{WECOM_KEY}!!"\n', tmp_path)
    fields = _fields(error)
    assert "is not a valid apprise URL" in fields["other.slack.url"]
    assert "nosuchservice://…" in fields["other.slack.url"]
    assert "wecombot://…" in fields["wecom.url"]
    assert str(tmp_path / "channels.toml") in fields["wecom.url"]


def test_sms_without_mobile_placeholder_is_refused_with_a_masked_url(tmp_path: Path) -> None:
    error = _errors(f'[sms]\nurl = "twilio://{TWILIO_SID}:{TWILIO_TOKEN}@+15551234567/+15557654321"\n', tmp_path)
    rule = _fields(error)["sms.url"]
    assert "must contain {mobile}" in rule
    assert "twilio://...aaaa:T...9@" in rule  # apprise's own masking, the rest left readable
    assert "+15557654321" in rule


def test_placeholders_are_checked_per_mode(tmp_path: Path) -> None:
    error = _errors(f'[other.ntfy]\nurl = "ntfy://ntfy.example.com/{{pager}}"\n'
                    f'[dingtalk]\nurl = "dingtalk://{DING_SECRET}@{DING_TOKEN}/{{mobile}}"\n', tmp_path)
    fields = _fields(error)
    assert "unknown placeholder(s) {pager}" in fields["other.ntfy.url"]
    assert "unknown placeholder(s) {mobile}" in fields["dingtalk.url"]
    assert "allowed here: none" in fields["dingtalk.url"]


def test_rules_where_the_url_parses_show_apprise_masked_text(tmp_path: Path) -> None:
    error = _errors(f'[email]\nurl = "mailtos://ops:{SMTP_PASS}@smtp.example.com?from=p@example.com&to=x@example.com"\n'
                    f'[dingtalk]\nurl = "wecombot://{WECOM_KEY}"\n'
                    f'[other.email]\nurl = "mailto://smtp.example.com"\n', tmp_path)
    fields = _fields(error)
    assert "must not name recipients" in fields["email.url"]
    assert "mailtos://ops:****@smtp.example.com" in fields["email.url"]
    assert "must be a dingtalk:// URL" in fields["dingtalk.url"]
    assert "use the [email] section" in fields["other.email"]


def test_endpoint_must_be_https_or_loopback_http(tmp_path: Path) -> None:
    error = _errors(f'[dingtalk]\nurl = "dingtalk://{DING_TOKEN}"\nendpoint = "http://dingtalk.example.com/robot/send"\n'
                    f'[wecom]\nurl = "wecombot://{WECOM_KEY}"\nendpoint = "ftp://127.0.0.1/x"\n'
                    f'[email]\nurl = "mailto://smtp.example.com?from=p@example.com"\nendpoint = "https://x"\n',
                    tmp_path)
    fields = _fields(error)
    assert "loopback" in fields["dingtalk.endpoint"]
    assert "http(s)" in fields["wecom.endpoint"]
    assert "unknown key" in fields["email.endpoint"]
    ok = parse_channels({"dingtalk": {"url": f"dingtalk://{DING_TOKEN}", "endpoint": "http://localhost:9/robot/send"},
                         "wecom": {"url": f"wecombot://{WECOM_KEY}", "endpoint": "https://proxy.example.com/send"}})
    assert ok.endpoint_overrides == {"dingtalk": "http://localhost:9/robot/send",
                                     "wecom": "https://proxy.example.com/send"}


def test_unknown_sections_keys_and_missing_urls(tmp_path: Path) -> None:
    error = _errors('[pager]\nurl = "x"\n[sms]\nlink = "x"\n[other.Bad_Name]\nurl = "json://h"\n', tmp_path)
    fields = _fields(error)
    assert "unknown section" in fields["pager"]
    assert "unknown key" in fields["sms.link"]
    assert "is required" in fields["sms.url"]
    assert "lower-case" in fields["other.Bad_Name"]


def test_every_error_is_collected_in_one_go(tmp_path: Path) -> None:
    error = _errors(f'[email]\nurl = "nosuch://{SMTP_PASS}"\n[sms]\nurl = "nosuch://{TWILIO_TOKEN}"\n', tmp_path)
    assert set(_fields(error)) == {"email.url", "sms.url"}


# ------------------------------------------------------------------------------------------------ targets


def _parsed(target: DeliveryTarget) -> object:
    plugin = apprise.Apprise.instantiate(target.url)
    assert plugin is not None, target
    return plugin


def test_email_target_adds_the_encoded_recipient(channels: Channels) -> None:
    target = channels.target("email", ALICE)
    assert target is not None and target.kind == "email" and target.mention == ()
    assert "to=alice%2Bops%40example.com" in target.url  # a bare + would read as a space
    assert _parsed(target).targets == [(False, "alice+ops@example.com")]  # type: ignore[attr-defined]
    assert "/alice+ops@example.com?" in target.masked and "****" in target.masked
    assert channels.target("email", NOBODY) is None


def test_sms_target_substitutes_the_mobile(channels: Channels) -> None:
    target = channels.target("sms", ALICE)
    assert target is not None
    assert _parsed(target).targets == [("T", "+8613800000001")]  # type: ignore[attr-defined]
    assert channels.target("sms", BOB) is None


def test_dingtalk_target_mentions_by_mobile_or_user_id(channels: Channels) -> None:
    alice = channels.target("dingtalk", ALICE)  # no DingTalk id: the mobile is used
    assert alice is not None and alice.mention == ("+8613800000001",)
    assert _parsed(alice).targets == ["8613800000001"]  # type: ignore[attr-defined]
    assert alice.endpoint == "https://robot-proxy.example.com/robot/send"
    bob = channels.target("dingtalk", BOB)
    assert bob is not None and bob.mention == ("bob-ding-id",)
    assert _parsed(bob).targets == []  # type: ignore[attr-defined]  # a user id is no apprise target
    assert channels.target("dingtalk", NOBODY) is None


def test_wecom_target_is_the_bot_with_the_user_id_to_mention(channels: Channels) -> None:
    target = channels.target("wecom", ALICE)
    assert target is not None
    assert target.url == f"wecombot://{WECOM_KEY}" and target.mention == ("alice-w",)
    assert target.endpoint == "http://127.0.0.1:8080/cgi-bin/webhook/send"
    assert channels.target("wecom", BOB) is None


def test_other_modes_address_by_placeholder_or_reach_whoever_asked(channels: Channels) -> None:
    ntfy = channels.target("ntfy", ALICE)
    assert ntfy is not None and ntfy.url == "ntfy://ntfy.example.com/pw-alice-w"
    assert channels.target("ntfy", BOB) is None  # no WeCom id to fill {wecom}
    assert channels.target("slack", ALICE) is not None  # a shared room: alice lists "slack" in her modes
    assert channels.target("slack", BOB) is None
    assert channels.target("pager", ALICE) is None


def test_endpoint_overrides_can_be_changed_in_place(channels: Channels) -> None:
    channels.endpoint_overrides["dingtalk"] = "http://127.0.0.1:1/robot/send"
    target = channels.target("dingtalk", ALICE)
    assert target is not None and target.endpoint == "http://127.0.0.1:1/robot/send"
    assert channels.target("email", ALICE).endpoint is None  # type: ignore[union-attr]


def test_no_secret_in_any_repr_or_masked_text(channels: Channels) -> None:
    shown = [repr(channels), str(channels)]
    for mode in channels.modes():
        shown.append(repr(channels.channel(mode)))
        shown.append(channels.channel(mode).masked)  # type: ignore[union-attr]
        for person in (ALICE, BOB):
            target = channels.target(mode, person)
            if target is not None:
                shown += [repr(target), str(target), target.masked, f"{target!r}"]
                if mode != "ntfy":  # a public ntfy topic has nothing private
                    assert target.secrets, mode
    for text in shown:
        _no_secret(text)
    target = channels.target("dingtalk", ALICE)
    assert target is not None and DING_TOKEN in target.url  # the real URL is there, only never shown


# ------------------------------------------------------------------------------------------------ helpers


def test_mask_replaces_secrets_and_their_encoded_forms() -> None:
    text = "GET /send?key=a%2Bb%40c and a+b@c and p@ss"
    assert mask(text, ["a+b@c", "p@ss", "", "x"]) == "GET /send?key=**** and **** and ****"


def test_secrets_are_what_apprise_hides_not_the_structure_of_the_url() -> None:
    native = parse_channels({"wecom": {"url": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"},
                             "email": {"url": "mailtos://ops:p%40ss%3Aw0rd@smtp.example.com?from=p@example.com"}})
    wecom = native.target("wecom", ALICE)
    assert wecom is not None and wecom.secrets == (WECOM_KEY,)  # not "webhook", "send", the host...
    email = native.target("email", ALICE)
    assert email is not None and email.secrets == ("p%40ss%3Aw0rd", "p@ss:w0rd")
    assert mask("login p@ss:w0rd failed", email.secrets) == "login **** failed"


def test_a_target_built_by_hand_takes_its_kind_from_the_mode() -> None:
    assert DeliveryTarget("email", "mailto://h?to=a@b.c", "mailto://h").kind == "email"
    assert DeliveryTarget("slack", "slack://x", "slack://…").kind == "other"
    assert DeliveryTarget("alerts", "json://h", "json://h", kind="dingtalk").kind == "dingtalk"


def test_small_helpers() -> None:
    assert scheme_of("twilio://SID:TOKEN@x") == "twilio://…"
    assert scheme_of("no url here") == "(not a URL)"
    assert tidy("dingtalk://****@D...6//?overflow=upstream&retry=0&wait=0.5&optional=no") == "dingtalk://****@D...6/"
    assert tidy("mailto://h/a%2Bb%40c?from=p%40q&retry=0") == "mailto://h/a+b@c?from=p@q"
    assert is_mobile("+8613800000001") and is_mobile("138 0000 0001") and not is_mobile("alice")


def test_the_example_channels_file_loads_once_made_private(tmp_path):
    from pathlib import Path

    from console.notify.channels import load_channels, write_channels_file

    example = Path(__file__).resolve().parents[2] / "data" / "examples" / "channels.toml"
    private = write_channels_file(tmp_path / "channels.toml", example.read_text())
    channels = load_channels(private)
    assert set(channels.modes()) >= {"email", "sms", "wecom", "dingtalk"}
