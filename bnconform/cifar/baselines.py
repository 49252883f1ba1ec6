"""The baseline store: accuracies of several seeds per configuration, checked in as JSON.

An entry is keyed by everything the accuracy depends on:

- ``target`` and ``versions`` (every package of the target, e.g. Keras *and* its backend);
- ``arch``, ``bn``, ``profile`` and the profile's ``protocol`` (epochs, subset sizes), so that
  changing a profile's definition retires its baselines instead of silently reusing them;
- the data copy, ``data_sha256`` (sha256 of the decoded pixels, see :mod:`bnconform.cifar.dataset`);
- the device's platform (``cpu``, ``cuda``, ``gpu``; :func:`bnconform.cifar.device.platform_of`): a GPU run is
  judged against GPU runs only (other kernels, reduced-precision defaults, another seed spread).
  Entries and records written before the device was recorded are ``cpu``, where they ran; the
  device's name (which GPU) is kept in the entry for the reader, not in the key: the band is a
  spread over seeds, and a repeat on another GPU of the same platform is one more draw from it.

It holds the ``seeds``, their ``accuracies`` (test accuracy) and, for the reader, the band computed
from them. Recording the same key again replaces the entry. Records of a deliberately broken BN are
never recorded (they are judged against the correct model's baseline).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .device import platform_of
from .stats import MIN_SEEDS, prediction_bound

SCHEMA = "bnconform-cifar-baselines/1"
DEFAULT_PATH = Path(__file__).resolve().parent / "baselines" / "baselines.json"


def protocol_of(record: dict) -> dict:
    data = record["data"]
    return {"epochs": len(record["epochs"]), "n_train": data["n_train"], "n_val": data["n_val"],
            "n_test": data["n_test"], "batch_size": record["batch_size"],
            "threads": record.get("machine", {}).get("threads")}


def config_key(record_or_entry: dict) -> tuple:
    """The key without versions: which configuration is measured."""
    r = record_or_entry
    protocol = r["protocol"] if "protocol" in r else protocol_of(r)
    sha = r["data_sha256"] if "data_sha256" in r else r["data"]["sha256"]
    return (r["target"], r["arch"], bool(r["bn"]), r["profile"],
            json.dumps(protocol, sort_keys=True), sha, platform_of(r))


def full_key(record_or_entry: dict) -> tuple:
    return config_key(record_or_entry) + (json.dumps(record_or_entry["versions"], sort_keys=True),)


@dataclass
class Store:
    path: Path
    entries: list

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "Store":
        path = Path(path) if path else DEFAULT_PATH
        if not path.exists():
            return cls(path, [])
        doc = json.loads(path.read_text())
        if doc.get("schema") != SCHEMA:
            raise ValueError(f"{path}: schema {doc.get('schema')!r}, expected {SCHEMA!r}")
        return cls(path, doc["entries"])

    def exact(self, record: dict) -> dict | None:
        """The entry for this record's configuration and versions."""
        key = full_key(record)
        return next((e for e in self.entries if full_key(e) == key), None)

    def other_versions(self, record: dict) -> list:
        """Entries of the same configuration with other versions, newest recording first."""
        key, own = config_key(record), full_key(record)
        found = [e for e in self.entries if config_key(e) == key and full_key(e) != own]
        return sorted(found, key=lambda e: e.get("recorded", ""), reverse=True)

    def record(self, records: list, command: str | None = None) -> dict:
        """Add (or replace) the entry made of ``records``: one configuration, several seeds."""
        if len(records) < MIN_SEEDS:
            raise ValueError(f"records must hold at least {MIN_SEEDS} seeds, got {len(records)}")
        keys = {full_key(r) for r in records}
        if len(keys) != 1:
            raise ValueError("records must all share one configuration and versions")
        if any(r.get("broken_bn") for r in records):
            raise ValueError("records of a deliberately broken BN are not baselines")
        seeds = [r["seed"] for r in records]
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        first = records[0]
        accuracies = [r["test_accuracy"] for r in records]
        bound = prediction_bound(accuracies)
        entry = {
            "target": first["target"], "framework": first["framework"],
            "backend": first["backend"], "versions": first["versions"],
            "arch": first["arch"], "bn": first["bn"], "profile": first["profile"],
            "protocol": protocol_of(first),
            "data_source": first["data"]["source"], "data_sha256": first["data"]["sha256"],
            "seeds": seeds, "accuracies": accuracies,
            "band": bound.as_dict(),
            "images_per_s": sorted(r["images_per_s"] for r in records)[len(records) // 2],
            "device": first.get("device") or {"platform": "cpu", "name": None},
            "recorded": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": command, "machine": first.get("machine"),
        }
        self.entries = [e for e in self.entries if full_key(e) != full_key(first)] + [entry]
        return entry

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ordered = sorted(self.entries, key=lambda e: (e["profile"], e["arch"], not e["bn"],
                                                       e["target"], e["recorded"]))
        text = json.dumps({"schema": SCHEMA, "entries": ordered}, indent=1) + "\n"
        # lists of numbers on one line each: the file is read by people too
        text = re.sub(r"\[\s*([-0-9.e,\s]+?)\s*\]",
                      lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
        fd, tmp = tempfile.mkstemp(prefix=".baselines.", dir=self.path.parent)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, self.path)
