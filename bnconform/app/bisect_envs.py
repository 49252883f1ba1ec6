"""The environments of ``bnconform bisect``: a package's releases from the package index, one cached
virtual environment per release, and the replay in it.

- **Releases**: ``python -m pip index versions PACKAGE`` (whatever index pip is configured for: no
  host is named here), parsed by :func:`bnconform.app.bisect_search.parse_index_versions`.
- **Environments**: ``CACHE/<package>-<version>-<hash>``, the hash of everything else that goes in
  (the Python version, the constraints, the other requirements), so a release is installed once per
  set of pins. Built by uv where it is on ``PATH`` (``uv venv``, ``uv pip install`` given pip's
  configured indexes and find-links, :func:`pip_index_options`), else by ``python -m venv`` and that
  environment's pip (``--installer``). What is installed is the release, the target's other
  frameworks (its registry entry: ``framework``, ``backend_distribution``) and bnconform's own
  requirements, all *constrained* to the versions of the current environment (``install -c``): installing keras 3.0.4 keeps torch 2.13.0+cpu rather than pulling another
  torch. ``--with NAME==VERSION`` replaces a name's pin. A finished environment holds
  :data:`MARKER`; one without it (an install that stopped) is rebuilt.
- **bnconform in it**: the replay runs ``<env>/bin/python -m bnconform replay ... --json`` with
  ``PYTHONPATH`` set to the directory this bnconform is imported from, so each release is judged by
  the same code as the command that started it (nothing of bnconform is copied into the cache, so a
  cached environment never runs an older bnconform).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from bnconform.app.bisect_search import Probe, parse_index_versions

#: the directory this bnconform is imported from (``bnconform.app.cli.IMPORT_ROOT``: the same copy)
IMPORT_ROOT = Path(__file__).resolve().parents[2]
#: written into an environment once its install succeeded: its requirements and constraints
MARKER = "bnconform-bisect.json"


class UsageError(ValueError):
    """The arguments are wrong in a way only a replay could tell (exit 2)."""


def default_cache() -> Path:
    """``$XDG_CACHE_HOME/bnconform/bisect``, else ``~/.cache/bnconform/bisect``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bnconform" / "bisect"


def _last_line(text: str) -> str:
    """The line of an installer's output that says what went wrong: pip's last ``ERROR:`` line, else
    uv's last ``error:`` line with its cause (``cause:``, or ``╰─▶`` on a terminal), else the last line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    pip = [line for line in lines if line.startswith("ERROR:")]
    if pip:
        return pip[-1]
    uv = [line.removesuffix(":") for line in lines if line.startswith(("error:", "× "))]
    causes = [line.split(maxsplit=1)[-1] for line in lines if line.startswith(("cause:", "╰─▶"))]
    if uv:
        return uv[-1] + (f": {causes[-1]}" if causes else "")
    return (lines or ["(no output)"])[-1]


def list_releases(package: str, python: str = sys.executable) -> list[str]:
    """Every release of ``package`` the configured index lists (``pip index versions``), as printed;
    ``ValueError`` with pip's last line when it lists none (an unknown package, no index)."""
    proc = subprocess.run([python, "-m", "pip", "index", "versions", package], capture_output=True, text=True)
    try:
        return parse_index_versions(proc.stdout)
    except ValueError:
        raise ValueError(f"--package {package}: the package index lists no releases "
                         f"({_last_line(proc.stderr + proc.stdout)})") from None


def current_pins(exclude: set[str]) -> dict[str, str]:
    """``{canonical name: "name==version"}`` of every distribution installed in this environment
    (first on ``sys.path`` wins), but bnconform and the names in ``exclude`` (canonical)."""
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        key = canonicalize_name(name)
        if key in pins or key in exclude or key == "bnconform":
            continue
        pins[key] = f"{name}=={dist.version}"
    return pins


def bnconform_requirements() -> list[str]:
    """bnconform's own run-time requirements (its metadata's, without extras), for this Python."""
    try:
        declared = importlib.metadata.requires("bnconform") or []
    except importlib.metadata.PackageNotFoundError:
        raise ValueError("bnconform's metadata is not installed in this environment (pip install -e .): "
                         "its requirements are what a bisect environment installs") from None
    env = dict(default_environment(), extra="")
    return [str(r) for r in map(Requirement, declared) if r.marker is None or r.marker.evaluate(env)]


def parse_with(pins: list[str]) -> dict[str, str]:
    """``--with`` requirements by canonical name; ``ValueError`` naming one that is not a requirement."""
    out = {}
    for text in pins:
        try:
            out[canonicalize_name(Requirement(text).name)] = text
        except InvalidRequirement as e:
            raise ValueError(f"--with: {text!r} is not a requirement (NAME==VERSION): {e}") from None
    return out


@dataclass(frozen=True)
class Plan:
    """What goes into one release's environment: ``requirements`` (the release first), ``constraints``."""

    package: str
    version: str
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]

    def key(self) -> str:
        """The hash of everything but the release: the Python version, the requirements and constraints."""
        text = json.dumps([sys.version_info[:2], sorted(self.requirements[1:]), sorted(self.constraints)])
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def directory(self, cache: Path) -> Path:
        return cache / f"{canonicalize_name(self.package)}-{self.version}-{self.key()}"


def plan(package: str, version: str, distributions: list[str], with_pins: list[str]) -> Plan:
    """The release's environment: ``package==version``, ``distributions`` (the target's frameworks)
    and bnconform's requirements, constrained to this environment's versions except for the package
    and the names ``with_pins`` gives (those are required at the versions given)."""
    extra = parse_with(with_pins)
    package_key = canonicalize_name(package)
    if package_key in extra:
        raise ValueError(f"--with {extra[package_key]}: {package} is the package bisected (--package)")
    pins = current_pins({package_key, *extra})
    wanted = [d for d in distributions if canonicalize_name(d) != package_key and canonicalize_name(d) not in extra]
    requirements = (f"{package}=={version}", *wanted, *bnconform_requirements(), *extra.values())
    return Plan(package, version, requirements, tuple(sorted(pins.values())))


def _python(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def resolve_installer(choice: str) -> str:
    """``pip``, or the path of ``uv``: ``auto`` is uv where it is on ``PATH``, else pip; ``ValueError``
    when uv is asked for and absent."""
    if choice not in ("auto", "pip", "uv"):
        raise ValueError(f"--installer: expected auto, pip or uv, got {choice!r}")
    uv = shutil.which("uv")
    if choice == "uv" and uv is None:
        raise ValueError("--installer uv: no uv on PATH")
    return uv if choice != "pip" and uv is not None else "pip"


_PIP_INDEX_OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links"}


def pip_index_options(python: str = sys.executable) -> list[str]:
    """pip's configured indexes and find-links (``pip config list``: its files and ``PIP_*``
    variables) as uv options, so that uv installs from where pip lists the releases."""
    proc = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True)
    options: list[str] = []
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        option = _PIP_INDEX_OPTIONS.get(key.rpartition(".")[2])
        for item in value.strip().strip("'\"").split() if option else ():
            if item not in options:
                options += [option, item]
    if "--extra-index-url" in options:  # pip takes the best match over all indexes; uv the first index's
        options += ["--index-strategy", "unsafe-best-match"]
    return options


def _install_commands(installer: str, env: Path, constraints: Path, requirements) -> list[list[str]]:
    """The commands that make ``env`` and install ``requirements`` under ``constraints``."""
    if installer == "pip":
        return [[sys.executable, "-m", "venv", str(env)],
                [str(_python(env)), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                 "-c", str(constraints), *requirements]]
    return [[installer, "venv", "--quiet", "--python", sys.executable, str(env)],
            [installer, "pip", "install", "--quiet", "--python", str(_python(env)), *pip_index_options(),
             "-c", str(constraints), *requirements]]


def build(plan_: Plan, cache: Path, log=print, installer: str = "pip") -> tuple[Path, str | None]:
    """The release's environment, built unless cached (``installer``: pip, or the path of uv):
    ``(directory, None)``, or ``(directory, why)`` when it could not be installed (``does not
    install: <the installer's last error line>``; the half-built directory is removed)."""
    env = plan_.directory(cache)
    if (env / MARKER).is_file():
        return env, None
    if env.exists():
        shutil.rmtree(env)  # an install that did not finish
    cache.mkdir(parents=True, exist_ok=True)
    log(f"  installing {plan_.package} {plan_.version} into {env}" + ("" if installer == "pip" else " (uv)"))
    constraints = cache / f"{env.name}.constraints.txt"
    constraints.write_text("\n".join(plan_.constraints) + "\n", encoding="utf-8")
    for command in _install_commands(installer, env, constraints, plan_.requirements):
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            shutil.rmtree(env, ignore_errors=True)
            return env, f"does not install: {_last_line(proc.stderr + proc.stdout)}"
    (env / MARKER).write_text(json.dumps({"requirements": plan_.requirements, "constraints": plan_.constraints,
                                          "installer": Path(installer).name}, indent=1), encoding="utf-8")
    return env, None


def replay(env: Path, release: str, args: list[str], timeout: float | None = None) -> Probe:
    """``bnconform replay ARGS --json`` in ``env`` (this bnconform first on its path) as a probe of
    ``release``: its verdict (pass, fail, error) and lines; unusable when the target does not import
    there ("does not import: ...") or the replay did not finish; :class:`UsageError` when the replay
    refuses the arguments (the same in every release)."""
    child = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    child["PYTHONPATH"] = str(IMPORT_ROOT)
    child.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        proc = subprocess.run([str(_python(env)), "-m", "bnconform", "replay", *args, "--json"], env=child,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Probe(release, problem=f"the replay did not finish in {timeout:g} s")
    try:
        record = json.loads(proc.stdout.strip().splitlines()[-1])
        verdict = record["verdict"]
    except (IndexError, ValueError, KeyError, TypeError):
        return Probe(release, problem=f"does not import: the replay exited {proc.returncode}: "
                                      f"{_last_line(proc.stderr)}")
    lines = tuple(record.get("lines") or ())
    if verdict == "broken":
        return Probe(release, problem=f"does not import: {record.get('message')}")
    if verdict == "usage":
        raise UsageError(f"the replay in {release} refused its arguments: {record.get('message')}")
    if verdict not in ("pass", "fail", "error"):
        return Probe(release, problem=f"the replay gave an unknown verdict {verdict!r}")
    note = None
    if verdict == "error":  # what raised, for the probe's line: "AttributeError: module 'keras' has no ..."
        raised = next((line for line in lines if line.startswith(_RAISED)), "")
        where, _, message = raised.removeprefix(_RAISED).split("\n")[0].partition(": ")
        note = f"{where.rpartition('.')[2]}: {message}"[:160] if raised else None
        if record.get("origin") == "suite":  # the suite's own error on this release: no verdict on it
            return Probe(release, problem=f"the suite cannot run on this release: {note}", lines=lines)
    return Probe(release, verdict=verdict, lines=lines, note=note)


#: how ``bnconform replay`` begins the line of a framework's exception (``cli._framework_error``)
_RAISED = "ERROR: the framework raised "
