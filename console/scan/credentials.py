"""Credential profiles: how Patchwatch reaches targets (where the cloud system has an IAM agency).

A profile names an SSH user, key files and/or the ssh-agent, known_hosts files, and a sudo mode (``none``, or
``sudo`` which always runs ``sudo -n`` and so can never prompt). Keys and known_hosts are read ONCE per
profile and reused for every connection: re-reading a key file per connection costs ~130 ms for RSA
(library-notes.md). Host keys are always verified; there is no "accept any key" switch.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from console.errors import FieldError, PatchwatchError, ValidationError
from console.scan.sshconnect import ScanSSHClient
from console.scan.sshconnect import install as install_scan_connections

SUDO_MODES = ("none", "sudo")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
DEFAULT_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")
#: Patchwatch's own known_hosts in the data directory; ``patchwatch hostkey accept`` appends to it.
ACCEPTED_KNOWN_HOSTS = "known_hosts"


class CredentialError(PatchwatchError):
    """A profile cannot be used (a key file unreadable, no key at all): a run-level error."""


@dataclass(frozen=True)
class CredentialProfile:
    name: str = "default"
    #: SSH user when the inventory gives none.
    user: str | None = None
    key_files: tuple[str, ...] = ()
    use_agent: bool = False
    #: Extra known_hosts files; the data directory's own ``known_hosts`` is always consulted too.
    known_hosts: tuple[str, ...] = ()
    sudo: str = "none"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["id"] = self.name
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CredentialProfile:
        return cls(name=data["name"], user=data.get("user"), key_files=tuple(data.get("key_files", ())),
                   use_agent=bool(data.get("use_agent", False)), known_hosts=tuple(data.get("known_hosts", ())),
                   sudo=data.get("sudo", "none"))

    def validate(self) -> CredentialProfile:
        errors: list[FieldError] = []
        if not _NAME.match(self.name):
            errors.append(FieldError("credential.name", f"must be 1-64 letters, digits, . _ -; got {self.name!r}"))
        if self.sudo not in SUDO_MODES:
            errors.append(FieldError("credential.sudo", f"must be none or sudo (sudo -n, never prompts); "
                                                        f"got {self.sudo!r}"))
        for path in self.key_files:
            if not Path(path).expanduser().is_file():
                errors.append(FieldError("credential.key_files", f"no such key file: {path}"))
        for path in self.known_hosts:
            if not Path(path).expanduser().is_file():
                errors.append(FieldError("credential.known_hosts", f"no such known_hosts file: {path}"))
        if errors:
            raise ValidationError(errors)
        return self


def default_profile() -> CredentialProfile:
    """The profile used when none is configured: the operator's agent if there is one, else their default
    key files, and their ~/.ssh/known_hosts."""
    ssh_dir = Path.home() / ".ssh"
    keys = tuple(str(ssh_dir / n) for n in DEFAULT_KEY_NAMES if (ssh_dir / n).is_file())
    known = (str(ssh_dir / "known_hosts"),) if (ssh_dir / "known_hosts").is_file() else ()
    return CredentialProfile(name="default", key_files=keys, use_agent=bool(os.environ.get("SSH_AUTH_SOCK")),
                             known_hosts=known)


def _cipher_preference() -> list[str]:
    """asyncssh's default ciphers with AES-GCM first. Both AEAD families are secure; asyncssh encrypts a
    chacha20-poly1305 packet with several cipher-context calls and an AES-GCM packet with one, which made
    the cipher the largest client CPU item per scanned host (with AES instructions AES-GCM is the cheaper
    one here). Every default stays offered, so a host without AES-GCM still negotiates what it has."""
    from asyncssh.encryption import get_default_encryption_algs

    defaults = [alg.decode("ascii") for alg in get_default_encryption_algs()]
    gcm = [alg for alg in defaults if alg.endswith("-gcm@openssh.com")]
    gcm.sort(key=lambda alg: not alg.startswith("aes128"))
    return gcm + [alg for alg in defaults if alg not in gcm]


CIPHER_PREFERENCE = _cipher_preference()


@dataclass
class LoadedCredential:
    """A profile with its keys and known hosts parsed, ready for any number of connections."""

    profile: CredentialProfile
    client_keys: list[asyncssh.SSHKey] = field(default_factory=list)
    known_hosts: asyncssh.SSHKnownHosts | None = None
    agent_path: str | None = None

    @property
    def use_sudo(self) -> bool:
        return self.profile.sudo == "sudo"

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``asyncssh.connect`` that never consult anything else on this machine
        (no ~/.ssh/config, no default key files, no X.509 trust directory, no agent unless the profile says so).
        The client is :class:`~console.scan.sshconnect.ScanSSHClient`: the key is sent signed at once, right
        behind the service request, and the options are built without a thread (console.scan.sshconnect says
        why each is safe)."""
        install_scan_connections()
        return {
            "client_keys": self.client_keys or None,
            "known_hosts": self.known_hosts,
            "agent_path": self.agent_path,
            "config": None,
            "preferred_auth": "publickey",
            "x509_trusted_certs": None,
            "x509_trusted_cert_paths": [],
            "encryption_algs": CIPHER_PREFERENCE,
            "client_factory": ScanSSHClient,
        }


def load_credential(profile: CredentialProfile, data_dir: Path | None = None) -> LoadedCredential:
    """Read the profile's keys and known_hosts once. Raises CredentialError with the file and the cause."""
    keys: list[asyncssh.SSHKey] = []
    for path in profile.key_files:
        try:
            keys.append(asyncssh.read_private_key(Path(path).expanduser()))
        except (OSError, asyncssh.KeyImportError) as exc:
            raise CredentialError(f"credential {profile.name}: key file {path} cannot be used: {exc}") from exc
    agent = os.environ.get("SSH_AUTH_SOCK") if profile.use_agent else None
    if profile.use_agent and not agent:
        raise CredentialError(f"credential {profile.name}: use_agent is set but SSH_AUTH_SOCK is not")
    if not keys and not agent:
        raise CredentialError(f"credential {profile.name}: no key file and no ssh-agent: nothing to log in with")
    texts: list[str] = []
    files = [Path(p).expanduser() for p in profile.known_hosts]
    if data_dir is not None:
        files.append(Path(data_dir) / ACCEPTED_KNOWN_HOSTS)
    for path in files:
        if path.is_file():
            try:
                texts.append(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise CredentialError(f"credential {profile.name}: known_hosts {path} unreadable: {exc}") from exc
    # An empty known_hosts still verifies: every host is unknown, and so refused (a host_key failure).
    try:
        known = asyncssh.import_known_hosts("\n".join(texts))
    except (ValueError, asyncssh.KeyImportError) as exc:
        raise CredentialError(f"credential {profile.name}: a known_hosts file is malformed: {exc}") from exc
    return LoadedCredential(profile=profile, client_keys=keys, known_hosts=known, agent_path=agent)
