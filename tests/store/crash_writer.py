"""Child process for the kill test (run as a script, not collected by pytest).

It owns the data directory given as ``argv[1]`` and writes forever: one event per ``append_events`` call
and one insert or update of a run per step, printing ``committed ...`` (flushed) only after each call has
returned.
The parent SIGKILLs it at a random moment and checks that everything reported as committed survived. All
payloads are derived from the step number so the parent can tell a complete record from a damaged one.
"""

from __future__ import annotations

import sys

from console.store import DataDirLock, Store

SHARD_SIZES = {"events": 10, "runs": 4}


def pad(n: int) -> str:
    """A payload tied to ``n`` whose size alternates between ~3 KB and a few bytes.

    So every other rewrite of a run's shard makes the file shorter: a writer that rewrote files in place
    (as TinyDB's stock storage does) and was killed between its write and its truncate would leave trailing
    bytes behind. A copy of AtomicJSONStorage mutated to write in place fails this test within a few trials.
    """
    return f"{n}:" + "x" * (3000 if n % 2 else (n * 7) % 50)


def main(data_dir: str) -> None:
    lock = DataDirLock(data_dir).acquire()
    store = Store(data_dir, shard_sizes=SHARD_SIZES)
    runs = store.sharded("runs")
    newest_event = store.query_events(kind="crash.", limit=1)
    step = newest_event[0]["i"] if newest_event else 0
    newest_run = next(runs.iter_newest(), None)
    run_id = newest_run["id"] if newest_run else None
    counter = newest_run["n"] if newest_run else 0
    print("ready", flush=True)
    while True:
        step += 1
        print(f"begin event {step}", flush=True)
        [event] = store.append_events(
            [{"kind": "crash.tick", "at": f"2026-01-01T00:00:00.{step:06d}Z", "i": step, "pad": pad(step)}]
        )
        print(f"committed event {event['id']} {step}", flush=True)
        if run_id is None or step % 5 == 0:
            run_id, counter = f"run-{step:06d}", 0
            print(f"begin run {run_id} {counter}", flush=True)
            runs.insert({"id": run_id, "n": counter, "pad": pad(counter)})
        else:
            counter += 1
            print(f"begin run {run_id} {counter}", flush=True)
            runs.update(run_id, {"n": counter, "pad": pad(counter)})
        print(f"committed run {run_id} {counter}", flush=True)
    lock.release()  # pragma: no cover - the loop only ends by SIGKILL


if __name__ == "__main__":
    main(sys.argv[1])
