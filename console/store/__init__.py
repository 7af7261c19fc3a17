"""Persistence: crash-safe TinyDB files, the data-directory lock, sharded growing tables, transcripts.

Public names are re-exported here so callers import from ``console.store`` only.
"""

from __future__ import annotations

from console.store.atomic import AtomicJSONStorage, dumps_compact, fsync_directory, remove_stray_temp_files
from console.store.lock import LOCK_FILE_NAME, DataDirLock
from console.store.sharded import Predicate, ShardedTable, copy_record
from console.store.store import (
    DEFAULT_SHARD_SIZES,
    MAIN_FILE_NAME,
    MIGRATIONS,
    SCHEMA_VERSION,
    SHARDED_INDEXES,
    Migration,
    Store,
    register_migration,
    safe_file_name,
    transcript_name,
)

__all__ = [
    "DEFAULT_SHARD_SIZES",
    "LOCK_FILE_NAME",
    "MAIN_FILE_NAME",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SHARDED_INDEXES",
    "AtomicJSONStorage",
    "DataDirLock",
    "Migration",
    "Predicate",
    "ShardedTable",
    "Store",
    "copy_record",
    "dumps_compact",
    "fsync_directory",
    "register_migration",
    "remove_stray_temp_files",
    "safe_file_name",
    "transcript_name",
]
