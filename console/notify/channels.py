"""Channels: how Patchwatch reaches people, configured once in a TOML file kept outside the store.

The file holds secrets (SMTP passwords, robot tokens, SMS provider keys), so it lives outside the data directory,
must be private to its owner (mode 0600, checked on every load) and nothing read from it is ever shown, logged or
stored unmasked: what may leave this module is :attr:`DeliveryTarget.masked`, made by apprise's own privacy mode.

The format::

    [email]
    url = "mailtos://user:pass@smtp.example.com:587?from=patchwatch@example.com"  # recipient added as to=
    [sms]
    url = "twilio://SID:TOKEN@+15551234567/{mobile}"     # any apprise SMS URL; {mobile} = the recipient's mobile
    [wecom]
    url = "wecombot://BOTKEY"                            # group bot; recipients @-mentioned by WeCom user id
    [dingtalk]
    url = "dingtalk://SECRET@TOKEN"                      # robot, optional signing secret; @-mentions by mobile
    endpoint = "http://127.0.0.1:8080/robot/send"        # optional: point the robot at another endpoint
    [other.slack]                                        # any other apprise URL, as a mode named "slack"
    url = "slack://T000/B000/XXXX"

The mode ``apprise`` needs no section: it sends to the person's own ``apprise = [...]`` URLs (people.toml), to
every one of them, and counts as sent only when all of them accepted the notice.

Who a channel reaches: email, sms, wecom and dingtalk use the person's address for that mode
(:meth:`console.notify.people.Person.address`). An ``[other.NAME]`` URL may address people with the placeholders
``{email}``, ``{mobile}``, ``{wecom}`` and ``{dingtalk}`` and then reaches everyone who has those addresses; a URL
without placeholders is a shared destination (a team room) and reaches the people who list ``NAME`` in their
``modes``, so nobody is paged twice in the same room by accident.

``endpoint`` (``[dingtalk]`` and ``[wecom]`` only) points the robot at another endpoint: a proxy, or a local test
server such as :class:`console.sim.sinks.RobotSink`. It must be https, or http to a loopback address (the robot
token travels in its query string, so it never crosses a network in clear text).

Why one module of this length: the channels file, its validation and masking, and the checked DingTalk and
WeCom plugins that turn HTTP-200 errors into failures.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
import string
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from secrets import token_hex
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from console.domain.task import APPRISE_MODE
from console.errors import FieldError, ValidationError
from console.notify.people import mask_url

if TYPE_CHECKING:
    from apprise.plugins.base import NotifyBase

#: The four modes with their own section; any other apprise URL is configured as ``[other.NAME]``.
BUILTIN_MODES: tuple[str, ...] = ("email", "sms", "wecom", "dingtalk")
#: Modes whose robot endpoint may be overridden (``endpoint = "..."``).
ROBOT_MODES: frozenset[str] = frozenset({"wecom", "dingtalk"})

#: Placeholders a URL may carry, per kind, and the ones it must carry. ``other`` modes may address the person by
#: any of their addresses.
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "email": frozenset(),
    "sms": frozenset({"mobile"}),
    "wecom": frozenset(),
    "dingtalk": frozenset(),
    "other": frozenset({"email", "mobile", "wecom", "dingtalk"}),
}
REQUIRED_PLACEHOLDERS: dict[str, frozenset[str]] = {"sms": frozenset({"mobile"})}
#: The mode whose address fills each placeholder (``Person.address``: sms is the mobile, dingtalk falls back to it).
_PLACEHOLDER_MODE: dict[str, str] = {"email": "email", "mobile": "sms", "wecom": "wecom", "dingtalk": "dingtalk"}

#: Values placed in the placeholders to validate a URL with apprise (they must pass the plugins' own checks).
_SAMPLES: dict[str, str] = {"mobile": "+8613800138000", "email": "someone@example.com", "wecom": "userid",
                            "dingtalk": "+8613800138000"}
#: What apprise's DingTalk plugin accepts as a mobile (others are DingTalk user ids, mentioned by atUserIds).
_PHONE_RE = re.compile(r"^\+?[0-9\s()-]+$")

_SECTION_KEYS: dict[str, frozenset[str]] = {
    "email": frozenset({"url"}),
    "sms": frozenset({"url"}),
    "wecom": frozenset({"url", "endpoint"}),
    "dingtalk": frozenset({"url", "endpoint"}),
    "other": frozenset({"url"}),
}
_MODE_NAME_CHARS = set(string.ascii_lowercase + string.digits + "_-")
_SECRET_MIN_LEN = 3
MASK = "****"


class Addressable(Protocol):
    """What a channel needs from a person (``console.notify.people.Person``)."""

    name: str

    def address(self, mode: str) -> str | None: ...


def is_mobile(text: str) -> bool:
    """A DingTalk mention by mobile (``at.atMobiles``) rather than by user id (``at.atUserIds``)."""
    return bool(_PHONE_RE.match(text)) and 6 <= sum(c.isdigit() for c in text) <= 15


# ------------------------------------------------------------------------------------------------------ masking


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret (and its URL-encoded forms) replaced by ``****``.

    The last line of defence for anything that is shown, logged or stored and may echo a URL or a server's
    answer: error texts from libraries quote the URL they failed on, query string included.
    """
    variants: set[str] = set()
    for secret in secrets:
        if not secret or len(secret) < _SECRET_MIN_LEN:
            continue
        variants.update({secret, quote(secret, safe=""), quote(secret, safe="@:+"), unquote(secret)})
    for variant in sorted((v for v in variants if len(v) >= _SECRET_MIN_LEN), key=len, reverse=True):
        text = text.replace(variant, MASK)
    return text


#: Query parameters apprise writes into every URL with their default values: noise in a table cell.
_DEFAULT_ARGS = frozenset({"overflow=upstream", "retry=0", "wait=0.5", "optional=no"})


def tidy(masked: str) -> str:
    """A masked URL as people read it: without apprise's default parameters (``overflow=upstream&retry=0...``)
    and decoded (``alice+ops@example.com``, not ``alice%2Bops%40example.com``). Display only: the secrets are
    masked before, in both their plain and encoded forms."""
    base, sep, query = masked.partition("?")
    kept = [unquote(arg) for arg in query.split("&") if arg and arg not in _DEFAULT_ARGS]
    base = unquote(base[:-1] if base.endswith("//") else base)
    return f"{base}?{'&'.join(kept)}" if sep and kept else base


def scheme_of(url: str) -> str:
    """Only the scheme of a URL (``twilio://…``): what may be shown of a URL that does not parse."""
    head, sep, _ = url.partition("://")
    if sep and head and all(c.isalnum() or c in "+-." for c in head):
        return f"{head}://…"
    return "(not a URL)"


_DELIMITERS = re.compile(r"[/:@?&=#]")


def plugin_secrets(plugin: NotifyBase) -> tuple[str, ...]:
    """What apprise's privacy mode hides in this plugin's URL: whatever apprise thinks is private is a secret.

    The plugin writes its URL twice from the same template, in full and masked; the pieces between delimiters
    line up one to one, and those that differ are the private values (tokens, passwords, keys), in the quoted
    form the URL uses and decoded.
    """
    full, masked = plugin.url(privacy=False), plugin.url(privacy=True)
    plain, hidden = _DELIMITERS.split(full), _DELIMITERS.split(masked)
    if len(plain) != len(hidden):  # a plugin whose masked form is shaped differently: compare by content
        return url_secrets(full, masked)
    found: list[str] = []
    for piece, shown in zip(plain, hidden, strict=True):
        if piece != shown:
            found += [c for c in (piece, unquote(piece)) if len(c) >= _SECRET_MIN_LEN]
    return tuple(dict.fromkeys(found))


def url_secrets(raw: str, masked: str) -> tuple[str, ...]:
    """The parts of ``raw`` that do not appear in ``masked``: user info, host, path and query values.

    Coarser than :func:`plugin_secrets` (it may count a host as secret): the fallback when the two forms do not
    line up."""
    split = urlsplit(raw)
    netloc = split.netloc
    userinfo, _, hostport = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
    pieces = [user, password, host, *split.path.split("/"), *(v for _, v in parse_qsl(split.query))]
    shown = unquote(masked)
    found: list[str] = []
    for piece in pieces:
        for candidate in {piece, unquote(piece)}:
            if len(candidate) >= _SECRET_MIN_LEN and candidate not in masked and candidate not in shown:
                found.append(candidate)
    return tuple(dict.fromkeys(found))


# ------------------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class DeliveryTarget:
    """One concrete destination: a mode, the apprise URL for one person, and what may be shown of it.

    ``url`` is secret (it carries passwords and tokens): show, log and store ``masked`` only. ``mention`` lists who
    is @-mentioned (DingTalk: mobiles, WeCom: user ids). ``endpoint`` replaces the robot's service URL (a proxy or a
    local test server). ``secrets`` are the parts of ``url`` to mask in anything derived from a send. ``urls`` are
    all the URLs one send goes to: the person's apprise URLs for kind ``apprise`` (``url`` is the first of them),
    ``(url,)`` otherwise.
    """

    mode: str
    url: str = field(repr=False)
    masked: str
    mention: tuple[str, ...] = ()
    kind: str = ""  # email, sms, wecom, dingtalk or other; derived from the mode when not given
    endpoint: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    urls: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", self.mode if self.mode in BUILTIN_MODES else "other")
        if not self.urls:
            object.__setattr__(self, "urls", (self.url,))

    def __repr__(self) -> str:
        endpoint = f", endpoint={_mask_endpoint(self.endpoint)!r}" if self.endpoint else ""
        return (f"DeliveryTarget(mode={self.mode!r}, masked={self.masked!r}, mention={self.mention!r}, "
                f"kind={self.kind!r}{endpoint})")

    __str__ = __repr__


@dataclass(frozen=True)
class Channel:
    """One configured mode: the (secret) URL template and what may be shown of it."""

    mode: str
    kind: str
    url: str = field(repr=False)
    masked: str
    endpoint: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __repr__(self) -> str:
        return f"Channel(mode={self.mode!r}, kind={self.kind!r}, masked={self.masked!r})"


#: The ``apprise`` mode as a channel: nothing to configure, nothing secret; each person brings the URLs.
_APPRISE_CHANNEL = Channel(mode=APPRISE_MODE, kind=APPRISE_MODE, url="", masked="each person's own apprise URLs")


class Channels:
    """The configured channels. ``endpoint_overrides`` maps ``dingtalk``/``wecom`` to another robot endpoint;
    it starts with the file's ``endpoint`` keys and may be changed in place (tests, the demo)."""

    def __init__(self, channels: Mapping[str, Channel], *, source: Path | None = None,
                 endpoint_overrides: Mapping[str, str] | None = None) -> None:
        self._channels = dict(channels)
        self.source = source
        self.endpoint_overrides: dict[str, str] = {
            mode: ch.endpoint for mode, ch in self._channels.items() if ch.endpoint}
        self.endpoint_overrides.update(endpoint_overrides or {})
        self._masked_cache: dict[str, tuple[str, tuple[str, ...]]] = {}

    def __repr__(self) -> str:
        return f"Channels(source={str(self.source)!r}, modes={self.modes()!r})"

    def modes(self) -> list[str]:
        """The configured modes, then ``apprise``: it needs no section, only people with apprise URLs."""
        return [*self._channels, APPRISE_MODE]

    def channel(self, mode: str) -> Channel | None:
        return _APPRISE_CHANNEL if mode == APPRISE_MODE else self._channels.get(mode)

    def target(self, mode: str, person: Addressable) -> DeliveryTarget | None:
        """The concrete destination of ``person`` on ``mode``; None when the mode is not configured or the person
        has no address for it."""
        if mode == APPRISE_MODE:
            return self._apprise_target(person)
        channel = self._channels.get(mode)
        if channel is None:
            return None
        mention: tuple[str, ...] = ()
        if channel.kind == "other":
            used = _placeholders(channel.url)
            if not used and mode not in tuple(getattr(person, "modes", ()) or ()):
                return None  # a shared room: only for the people who asked for it
            values = {name: value for name in used
                      if (value := _address(person, _PLACEHOLDER_MODE.get(name, name)))}
            if len(values) < len(used):
                return None
            url = _fill(channel.url, values)
        else:
            address = _address(person, mode)
            if not address:
                return None
            if channel.kind == "email":
                url = _add_query(channel.url, "to", address)
            elif channel.kind == "sms":
                url = _fill(channel.url, {"mobile": address})
            elif channel.kind == "dingtalk":
                # A mobile becomes one of apprise's DingTalk targets (at.atMobiles); a user id is mentioned by
                # atUserIds at send time. Either way the text names them too: DingTalk requires it.
                url = _add_query(channel.url, "to", address) if is_mobile(address) else channel.url
                mention = (address,)
            else:
                # The WeCom bot mentions by user id in the message text (<@userid>), not through the URL.
                url, mention = channel.url, (address,)
        masked, secrets = self._mask(url, channel)
        return DeliveryTarget(mode=mode, url=url, masked=masked, mention=mention, kind=channel.kind,
                              endpoint=self.endpoint_overrides.get(mode) if mode in ROBOT_MODES else None,
                              secrets=secrets)

    def _apprise_target(self, person: Addressable) -> DeliveryTarget | None:
        """All of the person's own apprise URLs as one target; None when the person has none.

        Shown by scheme only (``tgram://***``): apprise's privacy mode keeps a token's first and last characters,
        and these URLs are the person's secrets, never meant for a table cell."""
        urls = tuple(u.strip() for u in (getattr(person, "apprise", ()) or ()) if isinstance(u, str) and u.strip())
        if not urls:
            return None
        secrets: list[str] = []
        for url in urls:
            key = f"{APPRISE_MODE}\n{url}"  # the same URL as a channel's is masked differently: keep both apart
            cached = self._masked_cache.get(key)
            if cached is None:
                plugin = _instantiate(url)
                # A URL apprise rejects fails at send time; until then every piece of it counts as secret.
                found = plugin_secrets(plugin) if plugin is not None else url_secrets(url, mask_url(url))
                cached = self._masked_cache[key] = (mask_url(url), found)
            secrets += cached[1]
        return DeliveryTarget(mode=APPRISE_MODE, url=urls[0], masked=", ".join(mask_url(u) for u in urls),
                              kind=APPRISE_MODE, secrets=tuple(dict.fromkeys(secrets)), urls=urls)

    def _mask(self, url: str, channel: Channel) -> tuple[str, tuple[str, ...]]:
        cached = self._masked_cache.get(url)
        if cached is None:
            plugin = _instantiate(url)
            masked = plugin.url(privacy=True) if plugin is not None else channel.masked
            secrets = tuple(dict.fromkeys(channel.secrets + (plugin_secrets(plugin) if plugin else ())))
            cached = self._masked_cache[url] = (tidy(mask(masked, secrets)), secrets)
        return cached


# --------------------------------------------------------------------------------------------------------- files


def write_channels_file(path: str | os.PathLike[str], text: str) -> Path:
    """Create (or replace) the channels file readable by its owner only.

    The mode is given to ``os.open`` so the file never exists, even for an instant, with wider permissions;
    an existing file is replaced through a private temporary file for the same reason.
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def check_private(path: Path) -> None:
    """Refuse a channels file that anyone but its owner may read or write."""
    mode = stat.S_IMODE(path.stat().st_mode)
    readable, writable = bool(mode & 0o044), bool(mode & 0o022)
    if readable or writable:
        what = " and ".join(w for w, on in (("readable", readable), ("writable", writable)) if on)
        raise ValidationError.single("channels file", f"{path} is {what} by others (mode {mode:04o}): "
                                                      f"chmod 600 {path}")


def load_channels(path: str | os.PathLike[str]) -> Channels:
    """Read and validate the channels file; every URL is checked by apprise, every error names its field."""
    source = Path(path)
    try:
        check_private(source)
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError.single("channels file", f"{source} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message gives a position, never the offending value.
        raise ValidationError.single("channels file", f"{source} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ValidationError.single("channels file", f"{source} cannot be read: {exc.strerror}") from None
    return parse_channels(data, source=source)


def parse_channels(data: Mapping[str, Any], *, source: Path | None = None) -> Channels:
    """Validate the decoded TOML document (split from :func:`load_channels` for callers that hold the text)."""
    errors: list[FieldError] = []
    channels: dict[str, Channel] = {}
    for key, value in data.items():
        if key in BUILTIN_MODES:
            channel = _section(key, key, key, value, errors)
            if channel is not None:
                channels[key] = channel
        elif key == "other":
            if not isinstance(value, Mapping):
                errors.append(FieldError("other", "must be a table of [other.NAME] sections"))
                continue
            for name, section in value.items():
                if name in BUILTIN_MODES:
                    errors.append(FieldError(f"other.{name}", f"use the [{name}] section for {name}"))
                elif name == APPRISE_MODE:
                    errors.append(FieldError(f"other.{name}", "the apprise mode sends to each person's own apprise "
                                                              "URLs (people.toml); name this channel otherwise"))
                elif not name or not set(name) <= _MODE_NAME_CHARS:
                    errors.append(FieldError(f"other.{name}", "mode names use lower-case letters, digits, - and _"))
                else:
                    channel = _section(f"other.{name}", name, "other", section, errors)
                    if channel is not None:
                        channels[name] = channel
        else:
            errors.append(FieldError(key, f"unknown section; known: {', '.join(BUILTIN_MODES)}, other.NAME"))
    if errors:
        if source is not None:
            errors = [FieldError(e.field, f"{e.rule} (in {source})") for e in errors]
        raise ValidationError(errors)
    return Channels(channels, source=source)


def _section(where: str, mode: str, kind: str, section: Any, errors: list[FieldError]) -> Channel | None:
    if not isinstance(section, Mapping):
        errors.append(FieldError(where, "must be a table with a url"))
        return None
    for key in section:
        if key not in _SECTION_KEYS[kind]:
            errors.append(FieldError(f"{where}.{key}", f"unknown key; known: {', '.join(sorted(_SECTION_KEYS[kind]))}"))
    url = section.get("url")
    if not isinstance(url, str) or not url.strip():
        errors.append(FieldError(f"{where}.url", "is required: an apprise URL"))
        return None
    url = url.strip()
    checked = _check_url(f"{where}.url", kind, url, errors)
    endpoint = section.get("endpoint")
    if endpoint is not None:
        endpoint = _check_endpoint(f"{where}.endpoint", endpoint, errors)
    if checked is None:
        return None
    masked, secrets = checked
    return Channel(mode=mode, kind=kind, url=url, masked=masked, endpoint=endpoint, secrets=secrets)


def _check_url(where: str, kind: str, url: str, errors: list[FieldError]) -> tuple[str, tuple[str, ...]] | None:
    """Validate one URL template with apprise; returns (masked template, secrets) or records the errors."""
    try:
        used = _placeholders(url)
    except ValueError:
        errors.append(FieldError(where, f"has unbalanced {{ }} in {scheme_of(url)}"))
        return None
    sample = _fill(url, {name: _SAMPLES[name] for name in used if name in _SAMPLES})
    plugin = _instantiate(sample)
    if plugin is None:
        errors.append(FieldError(where, f"is not a valid apprise URL (unknown service or bad parameters): "
                                        f"{scheme_of(url)}"))
        return None
    masked_sample = plugin.url(privacy=True)
    secrets = plugin_secrets(plugin)
    masked = masked_sample
    for name in used:
        if name in _SAMPLES:
            masked = masked.replace(quote(_SAMPLES[name], safe=""), f"{{{name}}}").replace(_SAMPLES[name],
                                                                                           f"{{{name}}}")
    masked = tidy(mask(masked, secrets))

    unknown = used - PLACEHOLDERS[kind]
    if unknown:
        allowed = ", ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS[kind])) or "none"
        errors.append(FieldError(where, f"uses unknown placeholder(s) {', '.join(f'{{{p}}}' for p in sorted(unknown))}"
                                        f" (allowed here: {allowed}): {masked}"))
    missing = REQUIRED_PLACEHOLDERS.get(kind, frozenset()) - used
    if missing:
        errors.append(FieldError(where, f"must contain {', '.join(f'{{{p}}}' for p in sorted(missing))} where the "
                                        f"recipient's number goes: {masked}"))
    protocol = type(plugin).__name__
    if kind == "email":
        from apprise.plugins.email import NotifyEmail

        if not isinstance(plugin, NotifyEmail):
            errors.append(FieldError(where, f"must be a mailto:// or mailtos:// URL (configure other mail services "
                                            f"as [other.NAME]): {masked}"))
        if any(k.lower() in ("to",) for k, _ in parse_qsl(urlsplit(url).query)) or _has_path_recipient(url):
            errors.append(FieldError(where, f"must not name recipients: each person's address is added as to=: "
                                            f"{masked}"))
    elif kind == "dingtalk" and protocol != "NotifyDingTalk":
        errors.append(FieldError(where, f"must be a dingtalk:// URL: {masked}"))
    elif kind == "wecom" and protocol != "NotifyWeComBot":
        errors.append(FieldError(where, f"must be a wecombot:// URL (the WeCom group bot): {masked}"))
    return masked, secrets


def _has_path_recipient(url: str) -> bool:
    """mailto://host/alice@example.com names a recipient in the path."""
    return any("@" in unquote(part) for part in urlsplit(url).path.split("/"))


def _check_endpoint(where: str, endpoint: Any, errors: list[FieldError]) -> str | None:
    if not isinstance(endpoint, str) or not endpoint.strip():
        errors.append(FieldError(where, "must be an http(s) URL"))
        return None
    endpoint = endpoint.strip()
    split = urlsplit(endpoint)
    shown = _mask_endpoint(endpoint)
    if split.scheme not in ("http", "https") or not split.hostname:
        errors.append(FieldError(where, f"must be an http(s) URL with a host: {shown}"))
        return None
    if split.query or split.fragment:
        errors.append(FieldError(where, f"must not carry a query (the token comes from url): {shown}"))
        return None
    if split.scheme == "http" and not _is_loopback(split.hostname):
        errors.append(FieldError(where, f"plain http is allowed to a loopback address only (the robot token "
                                        f"would cross the network in clear text); use https: {shown}"))
        return None
    return endpoint


def _mask_endpoint(endpoint: str | None) -> str:
    if not endpoint:
        return ""
    split = urlsplit(endpoint)
    if "@" in split.netloc:
        return split._replace(netloc=f"{MASK}@{split.netloc.rpartition('@')[2]}").geturl()
    return endpoint


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------------------- helpers


def _instantiate(url: str) -> NotifyBase | None:
    """apprise's own verdict on a URL: a plugin instance, or None for an invalid or unknown URL."""
    import apprise

    return apprise.Apprise.instantiate(url, asset=apprise.AppriseAsset(storage_mode="memory"))


def _placeholders(url: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(url) if name is not None}


class _Filled(dict[str, str]):
    """Placeholder values; one not given (an unknown placeholder, reported separately) reads as ``x``."""

    def __missing__(self, key: str) -> str:
        return "x"


def _fill(url: str, values: Mapping[str, str]) -> str:
    """Put URL-encoded values in the placeholders (a mobile's ``+`` would read as a space otherwise)."""
    return url.format_map(_Filled({k: quote(v, safe="") for k, v in values.items()}))


def _add_query(url: str, key: str, value: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}{key}={quote(value, safe='')}"


def _address(person: Addressable, mode: str) -> str | None:
    try:
        value = person.address(mode)
    except (KeyError, ValueError, AttributeError):
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None


__all__ = ["APPRISE_MODE", "BUILTIN_MODES", "Channel", "Channels", "DeliveryTarget", "check_private", "is_mobile",
           "load_channels", "mask", "parse_channels", "plugin_secrets", "scheme_of", "tidy", "url_secrets",
           "write_channels_file"]
