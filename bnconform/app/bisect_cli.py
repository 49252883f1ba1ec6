"""``bnconform bisect``: which release of a package changed a replay's verdict.

    bnconform bisect TARGET PROPERTY MODE CASE --package keras --from 3.0.0 --to 3.15.1

installs the releases of ``--package`` in ``[--from, --to]`` (from the package index, pre-releases
only with ``--pre``) into cached environments (:mod:`bnconform.app.bisect_envs`), replays the case on
them (``bnconform replay ... --json``, each in its environment) by binary search
(:mod:`bnconform.app.bisect_search`), printing each probe as it goes, and reports the first release
whose verdict differs from the oldest's, with the verdict lines of both releases. CASE is the JSON a
failure prints, a file holding it, or ``-`` (standard input).

Exit codes: 0 a change point found; 1 the two ends have the same verdict (no change in the range);
2 a usage or input error (unknown target or property, bad version range, malformed case, a package
the index does not list); 3 undecidable (fewer than two releases install and import, or the change
lies in a stretch of releases that do not).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from packaging.utils import canonicalize_name

from bnconform.app import bisect_envs, bisect_search
from bnconform.app.commandline import parse, positive_int, usage_error


def build_parser(prog: str = "bnconform bisect") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Which release of a package changed a replay's verdict: "
                                "installs releases into cached environments and replays the case on them by binary search.",
                                epilog="exit codes: 0 change point found, 1 equal verdicts at the ends, "
                                       "2 usage or input error, 3 undecidable")
    p.add_argument("target", help="the adapter, as the failure printed it (e.g. keras-torch)")
    p.add_argument("property", help="a property of bnconform/properties.py")
    p.add_argument("mode", help="the mode, as the failure printed it (train, inference, -)")
    p.add_argument("case", help="the case JSON a failure printed, a file holding it, or - (standard input)")
    p.add_argument("--package", help="the package whose releases are bisected (default: the target's framework)")
    p.add_argument("--from", dest="start", required=True, metavar="VERSION", help="the oldest release (included)")
    p.add_argument("--to", dest="stop", required=True, metavar="VERSION", help="the newest release (included)")
    p.add_argument("--pre", action="store_true", help="include pre-releases and development releases")
    p.add_argument("--with", dest="with_pins", action="append", default=[], metavar="REQUIREMENT",
                   help="install this requirement in every environment instead of the current environment's "
                        "version of that name (repeatable; e.g. --with jax==0.4.23)")
    p.add_argument("--cache", type=Path, default=None, metavar="DIR",
                   help=f"where the environments are kept (default: {bisect_envs.default_cache()})")
    p.add_argument("--installer", default="auto", choices=("auto", "pip", "uv"),
                   help="what builds the environments: uv (given pip's configured indexes), pip (python -m venv "
                        "and the environment's pip), or auto: uv where it is on PATH, else pip (default)")
    p.add_argument("--keep-going", action="store_true",
                   help="probe every release in the range instead of bisecting, and list every change "
                        "(checks the one-change-point assumption; one install per release)")
    p.add_argument("--timeout", type=positive_int, default=900, metavar="SECONDS",
                   help="the longest one replay may take (default: 900)")
    p.add_argument("--device", default=None, help="passed to each replay (default: cpu)")
    return p


def read_case(text: str, stdin=None) -> str:
    """The case JSON from the argument: JSON text, ``-`` (standard input) or a file's path;
    ``ValueError`` naming what is wrong."""
    if text == "-":
        text = (stdin or sys.stdin).read()
    elif not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"case: {text!r} is neither a case's JSON nor a file")
        text = path.read_text(encoding="utf-8")
    try:
        json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"case: malformed JSON: {e}") from None
    return text.strip()


def _checked(args, case: str) -> tuple[list[str], str]:
    """The target's distributions and its framework, after the checks this process can make before
    installing anything (``ValueError``: the target, the property, the case)."""
    from bnconform import adapters
    from bnconform.app.cli import _replayed

    info = adapters.get(args.target)  # ValueError: unknown target, naming the known ones
    _replayed(args.property, case)  # ValueError: unknown property, malformed case, another op's case
    return [d for d in (info.framework, info.backend_distribution) if d], info.framework


def main(argv: Sequence[str] | None = None, prog: str = "bnconform bisect") -> int:
    args = parse(build_parser(prog), argv)
    if isinstance(args, int):
        return args
    try:
        case = read_case(args.case)
        distributions, framework = _checked(args, case)
        package = args.package or framework
        bisect_search.select_releases([], args.start, args.stop)  # the range, before asking the index
        if canonicalize_name(package) in bisect_envs.parse_with(args.with_pins):
            raise ValueError(f"--with: {package} is the package bisected (--package); its releases come from --from/--to")
        bisect_envs.bnconform_requirements()
        installer = bisect_envs.resolve_installer(args.installer)
        releases = bisect_search.select_releases(bisect_envs.list_releases(package), args.start, args.stop, args.pre)
        if not releases:
            raise ValueError(f"bad version range: the index lists no release of {package} in "
                             f"[{args.start}, {args.stop}]" + ("" if args.pre else " (pre-releases left out; --pre)"))
    except ValueError as e:
        return usage_error(prog, str(e))
    cache = args.cache or bisect_envs.default_cache()
    replay_args = [args.target, args.property, args.mode, case]
    if args.device:
        replay_args += ["--device", args.device]
    print(f"{prog}: {args.target} {args.property} {args.mode}: {package} {releases[0]} .. {releases[-1]} "
          f"({len(releases)} releases), environments in {cache} ({Path(installer).name})", flush=True)

    def probe(release: str) -> bisect_search.Probe:
        plan = bisect_envs.plan(package, release, distributions, args.with_pins)
        env, problem = bisect_envs.build(plan, cache, log=lambda line: print(line, flush=True), installer=installer)
        if problem is not None:
            return bisect_search.Probe(release, problem=problem)
        return bisect_envs.replay(env, release, replay_args, timeout=args.timeout)

    def report(p: bisect_search.Probe) -> None:
        print(f"  {package} {p.describe()}", flush=True)

    search = bisect_search.scan if args.keep_going else bisect_search.bisect
    try:
        result = search(releases, probe, report)
    except bisect_envs.UsageError as e:
        return usage_error(prog, str(e))
    print(result.message)
    for p in (result.good, result.bad) if result.outcome != bisect_search.EQUAL else ():
        if p is not None and p.usable:
            print(f"--- {package} {p.release}: {p.verdict}")
            for line in "\n".join(p.lines).splitlines():
                print(f"    {line}")
    for p in result.unusable:
        print(f"    ({package} {p.describe()})")
    return result.exit_code
