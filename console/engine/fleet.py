"""The fleet service: the inventory of instances, credential profiles, and trusted host keys.

It owns what a run needs to reach its targets: which instances exist (and their groups), which credential
profile each uses (the task's job credential, or an instance's own ``patchwatch_credential``), and which host
keys an operator accepted. Accepting a key is always an explicit, traced operator action: scans never trust
a key on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from console.domain.events import EventKind
from console.domain.inventory import parse_inventory
from console.domain.run import Run
from console.domain.task import Task
from console.engine.broker import EventBroker
from console.errors import NotFoundError
from console.jobs import Target
from console.scan.credentials import ACCEPTED_KNOWN_HOSTS, CredentialProfile, default_profile
from console.scan.hostkeys import HostKeyInfo, append_known_host, check_fingerprint, fetch_host_key
from console.store.datastore import DataStore


class FleetService:
    """Inventory, credentials and host keys of one data directory."""

    def __init__(self, store: DataStore, broker: EventBroker, data_dir: Path) -> None:
        self._store = store
        self._broker = broker
        self._data_dir = data_dir
        self._profiles: dict[str, CredentialProfile] = {}
        #: Called when cached credentials (keys, known_hosts) must be read again, e.g. after a key was accepted.
        self.on_credentials_changed: Callable[[], None] = lambda: None

    async def load(self) -> None:
        docs = await self._store.call(lambda r: r.credentials.all())
        self._profiles = {d["name"]: CredentialProfile.from_dict(d) for d in docs}

    # ------------------------------------------------------------------ credentials

    def credential_profile(self, name: str) -> CredentialProfile:
        """The profile ``name``; ``default`` falls back to the operator's agent/keys when not configured."""
        profile = self._profiles.get(name)
        if profile is not None:
            return profile
        if name == "default":
            return default_profile()
        raise NotFoundError(f"no credential profile {name!r}: add it with patchwatch credential add")

    def list_credentials(self) -> list[CredentialProfile]:
        return sorted(self._profiles.values(), key=lambda p: p.name)

    async def put_credential(self, profile: CredentialProfile, *, actor: str) -> CredentialProfile:
        """Add or replace a credential profile (paths and settings; key contents are never stored)."""
        profile.validate()
        await self._store.call(lambda r: r.credentials.put(profile.to_dict()))
        self._profiles[profile.name] = profile
        self.on_credentials_changed()
        self._broker.publish(EventKind.CREDENTIAL_SAVED, f"credential profile {profile.name} saved", actor=actor,
                             data={"name": profile.name, "user": profile.user, "sudo": profile.sudo,
                                   "keys": len(profile.key_files), "agent": profile.use_agent})
        return profile

    async def fetch_host_key(self, name: str, *, port: int | None = None, timeout: float = 10.0) -> HostKeyInfo:
        """The host key ``name`` (an inventory instance or an address) presents now; trusts nothing. What an
        operator looks at, and verifies out of band, before :meth:`accept_host_key`."""
        target = next((t for t in await self.list_instances() if t.name == name), None)
        address, key_port = (target.address, port or target.port) if target else (name, port or 22)
        return await fetch_host_key(address, key_port, timeout=timeout)

    async def accept_host_key(self, name: str, *, actor: str, port: int | None = None, timeout: float = 10.0,
                              fingerprint: str | None = None) -> HostKeyInfo:
        """Fetch the host key ``name`` presents now, add it to Patchwatch's known_hosts, and record who accepted
        which fingerprint. With ``fingerprint`` (the one the operator verified), a host presenting any other
        key is refused and nothing is trusted."""
        info = await self.fetch_host_key(name, port=port, timeout=timeout)
        address, key_port = info.address, info.port
        check_fingerprint(info, fingerprint)
        await asyncio.to_thread(append_known_host, self._data_dir / ACCEPTED_KNOWN_HOSTS, info)
        self.on_credentials_changed()
        self._broker.publish(EventKind.HOSTKEY_ACCEPTED, f"host key of {name} ({address}:{key_port}) accepted by "
                             f"{actor}: {info.fingerprint}", host=name, actor=actor,
                             data={"address": address, "port": key_port, "algorithm": info.algorithm,
                                   "fingerprint": info.fingerprint})
        return info

    # ------------------------------------------------------------------ inventory

    async def upsert_instances(self, targets: list[Target], *, actor: str) -> None:
        await self._store.call(lambda r: r.inventory.put_many([t.to_dict() for t in targets]))
        self._broker.publish(EventKind.INVENTORY_CHANGED, f"{len(targets)} instances added or updated", actor=actor,
                             data={"names": [t.name for t in targets[:50]], "count": len(targets)})

    async def import_inventory(self, text: str, *, source: str, fmt: str, actor: str) -> list[Target]:
        """Parse a whole inventory file and add or update its instances. Any bad line refuses the whole
        import (InventoryError lists every problem with its line) and nothing changes."""
        targets = parse_inventory(text, source=source, fmt=fmt)  # type: ignore[arg-type]
        await self.upsert_instances(targets, actor=actor)
        return targets

    async def remove_instances(self, names: list[str], *, actor: str) -> list[str]:
        known = {t.name for t in await self.list_instances()}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise NotFoundError(f"not in the inventory: {', '.join(unknown)}")
        await self._store.call(lambda r: r.inventory.delete_many(names))
        self._broker.publish(EventKind.INVENTORY_REMOVED, f"{len(names)} instances removed", actor=actor,
                             data={"names": names[:50], "count": len(names)})
        return names

    async def list_instances(self, group: str | None = None) -> list[Target]:
        targets = [Target.from_dict(d) for d in await self._store.call(lambda r: r.inventory.all())]
        if group:
            targets = [t for t in targets if group in t.groups]
        return sorted(targets, key=lambda t: t.name)

    async def resolve_targets(self, task: Task, run: Run) -> tuple[list[Target], list[str]]:
        """Instances named by the task (and its groups), and the names not in the inventory."""
        inventory = {t.name: t for t in await self.list_instances()}
        chosen: dict[str, Target] = {}
        unknown: list[str] = []
        for name in task.targets.instances:
            if name in inventory:
                chosen[name] = inventory[name]
            else:
                unknown.append(name)
        for group in task.targets.groups:
            members = [t for t in inventory.values() if group == "all" or group in t.groups]
            if not members:
                unknown.append(f"group:{group}")
            for t in members:
                chosen.setdefault(t.name, t)
        if run.only_hosts:
            wanted = set(run.only_hosts)
            chosen = {n: t for n, t in chosen.items() if n in wanted}
        return list(chosen.values()), unknown
