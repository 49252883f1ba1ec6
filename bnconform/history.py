"""Known-bad releases as a test of the suite: documented upstream numerical bugs, each with the
release that has it and the first release that fixed it (issue 22; ``tox -m history``).

Each :class:`Bug` is one row of the README's table and two tox environments
(``history-<release>``, :meth:`Release.env`), and the checker (:func:`problems`, run by the tox
environment ``history-check`` as ``python -m bnconform.history results/``) reads each
environment's ``results/<env>/results.json`` and asks two things of the property concerned:

- the buggy release **fails** it: at least one ``fail`` record of the property on the target (a
  ``known-deviation`` does not count: a known entry explaining the bug away would hide it);
- the fixed release **passes** it: at least one record, none of them ``fail`` or ``error``
  (``pass``, ``skip`` with its reason, and ``known-deviation``: an entry whose version range covers
  the fix release because that release still carries another known bug, e.g. keras 3.5.0 fixed
  #19721 and still has #20235, keras-torch-same-pool-padding-mod-stride).

An ``error`` the framework did not raise (``error_origin``, :mod:`bnconform.reports.error_origin`)
fails the check on either release: it is the suite's own defect. A framework crash on a valid
configuration is an error verdict: beside a ``fail`` it does not hide the buggy release's failure,
and on the fix release it fails the check like a ``fail``. A bug that crashes is caught by a
``fail`` or by its own crash (``Bug.crash``). A bug that is itself a known deviation in the releases
that carry it (``Bug.entries``) is judged on its buggy release with those entries disabled
(``--known-deviations`` with a project file that disables them, :func:`disabling_file`): the suite
must catch it without being told, and the entries explain it to the users of those releases. This list is the
one place these facts live: ``tox.ini``'s history environments (``tests/meta/test_history.py``
reads them through ``tox config``) and the README's table agree with it.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Release", "Bug", "BUGS", "TODO", "envs", "disabled", "disabling_file", "problems", "main"]


@dataclass(frozen=True, kw_only=True)
class Release:
    """One release of a framework family, with the pins it installs with."""

    target: str  # the registry target that runs it (bnconform.adapters.registry)
    package: str  # the distribution whose release this is
    version: str
    pins: tuple[str, ...]  # every pinned requirement of its environment, the package's included
    backend: str | None = None  # KERAS_BACKEND for a Keras 3 target

    @property
    def env(self) -> str:
        """The tox environment: ``history-keras302-jax``."""
        digits = "".join(self.version.split("."))
        return f"history-{self.package}{digits}" + (f"-{self.backend}" if self.backend else "")


@dataclass(frozen=True, kw_only=True)
class Bug:
    """A documented upstream numerical bug: the release that has it, the first that fixed it, the
    property that must fail on the first and pass on the second."""

    id: str
    link: str  # the upstream issue or pull request
    summary: str
    property: str  # a property of bnconform/properties.py
    select: str  # pytest's -k expression for the environment: the property's tests of the target
    buggy: Release
    fixed: Release
    dtypes: tuple[str, ...] = ("float16", "bfloat16", "float32", "float64")  # where the bug is documented
    kinds: tuple[str, ...] | None = None  # the pooling kinds it is about (None: the records carry none)
    crash: str | None = None  # a regex of the framework error the bug raises, where it crashes as well
    entries: tuple[str, ...] = ()  # the shipped known deviations that model it (disabled on its buggy release)

    def records(self, records: list[dict], release: Release) -> list[dict]:
        """The records that judge this bug: its property, on the release's target, in its dtypes
        (and pooling kinds)."""
        return [r for r in records if r.get("target") == release.target and r.get("property") == self.property
                and r.get("dtype") in self.dtypes and (self.kinds is None or r.get("kind") in self.kinds)]


def _keras_jax(version: str) -> Release:
    return Release(target="keras-jax", package="keras", version=version, backend="jax",
                   pins=(f"keras=={version}", "jax==0.4.23", "jaxlib==0.4.23", "numpy<2"))


def _keras_torch(version: str) -> Release:
    return Release(target="keras-torch", package="keras", version=version, backend="torch",
                   pins=(f"keras=={version}", "torch==2.13.0"))


BUGS: tuple[Bug, ...] = (
    Bug(id="keras-19072", link="https://github.com/keras-team/keras/issues/19072",
        summary="the jax backend's batch variance in one pass, E[x^2] - E[x]^2 in float32, and no "
                "gradient through the batch mean",
        property="bn_backward", select="bn_backward",
        buggy=_keras_jax("3.0.2"), fixed=_keras_jax("3.0.3")),
    Bug(id="keras-19072", link="https://github.com/keras-team/keras/issues/19072",
        summary="the jax backend's batch variance in one pass, E[x^2] - E[x]^2 in float32",
        property="bn_forward_adversarial", select="bn_forward_adversarial",
        buggy=_keras_jax("3.0.2"), fixed=_keras_jax("3.0.3")),
    Bug(id="keras-pr-19102", link="https://github.com/keras-team/keras/pull/19102",
        summary="the torch backend's batch statistics detached in the backward pass",
        property="bn_backward", select="bn_backward",
        buggy=_keras_torch("3.0.4"), fixed=_keras_torch("3.0.5")),
    Bug(id="keras-19721", link="https://github.com/keras-team/keras/issues/19721",
        summary="'same' average pooling on the torch backend with its own padding logic: outputs of the "
                "wrong shape and values (fixed by PR #19979, which pads with the common same-padding "
                "function; 3.5.0 still has keras-20235, known deviation keras-torch-same-pool-padding-mod-stride)",
        property="pool2d", select="pool2d and not nonfinite and not lp_", kinds=("avg",),
        buggy=_keras_torch("3.4.1"), fixed=_keras_torch("3.5.0")),
    Bug(id="keras-20235", link="https://github.com/keras-team/keras/issues/20235",
        summary="'same' pooling on the torch backend, 3.5.0 to 3.8.0: the padding computed without "
                "clamping it at 0 and, when symmetric, handed to torch on the wrong axis, so torch raises, "
                "crops the input or pools the wrong windows (fixed by PR #20774, _compute_padding_length "
                "rewritten; first release with it found by replaying 3.7.0, 3.8.0: crash, 3.9.0, 3.9.2: pass)",
        property="pool2d", select="pool2d and not nonfinite and not lp_", kinds=("max", "avg"),
        crash=r"pad (must be non-negative|should be at most half of effective kernel size)|Output size is too small",
        entries=("keras-torch-same-pool-padding-mod-stride", "keras-torch-same-pool-padding-mod-stride-crash"),
        buggy=_keras_torch("3.8.0"), fixed=_keras_torch("3.9.0")),
    Bug(id="keras-19848", link="https://github.com/keras-team/keras/issues/19848",
        summary="a mask with a size-1 axis, which broadcasts along it, counted before broadcasting: the "
                "masked mean and variance divided by the mask's own count instead of the number of "
                "unmasked values (fixed by PR #20815, the mask broadcast to the input's shape first; "
                "3.9.0 still divides by the count + 1e-7 and crashes on one feature, known deviations "
                "keras-torch-masked-count-epsilon and keras-torch-masked-one-feature-crash)",
        property="bn_masked", select="bn_masked",
        buggy=_keras_torch("3.8.0"), fixed=_keras_torch("3.9.0")),
)

#: rows not built yet, with what they need (the README lists them as such)
TODO: tuple[tuple[str, str], ...] = ()


def envs() -> dict[str, Release]:
    """``{tox env: release}`` of every environment of the history label, in table order."""
    found: dict[str, Release] = {}
    for bug in BUGS:
        for release in (bug.buggy, bug.fixed):
            found[release.env] = release
    return found


def disabled(env: str, bugs=BUGS) -> tuple[str, ...]:
    """The shipped entries a history environment runs without: those of each bug whose buggy
    release it is (its ``--known-deviations`` file disables them, and nothing else)."""
    return tuple(e for bug in bugs if bug.buggy.env == env for e in bug.entries)


def disabling_file(env: str) -> str:
    """The project file of known deviations that ``env``'s tox command passes (``tox.ini``), relative
    to the repository: ``disable = [...]`` of :func:`disabled`."""
    return f"tests/history/{env}.toml"


def _records(results: Path, env: str) -> list[dict] | str:
    path = results / env / "results.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["records"]
    except (OSError, ValueError, KeyError) as exc:
        return f"{env}: no readable results ({path}: {exc})"


def selection(env: str, bugs=BUGS) -> str:
    """The ``-k`` expression of a history environment: the tests of every bug it judges."""
    chosen = [bug.select for bug in bugs if env in (bug.buggy.env, bug.fixed.env)]
    chosen = list(dict.fromkeys(chosen))
    return chosen[0] if len(chosen) == 1 else " or ".join(f"({s})" for s in chosen)


def verdicts(records: list[dict]) -> dict[str, int]:
    """``{verdict: count}`` of ``records``."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record["verdict"]] = counts.get(record["verdict"], 0) + 1
    return counts


def judge(bug: Bug, side: str, records: list[dict]) -> str | None:
    """What is wrong with one release's verdicts for the bug's property (None: as expected);
    ``side`` is "buggy" or "fixed"."""
    release = bug.buggy if side == "buggy" else bug.fixed
    mine = bug.records(records, release)
    counts = verdicts(mine)
    where = f"{bug.id}: {release.target} {release.package} {release.version} ({side}), {bug.property} {counts}"
    if not counts:
        return f"{where}: no records of the property"
    own = [r for r in mine if r["verdict"] == "error" and r.get("error_origin") != "framework"]
    if own:
        return f"{where}: {len(own)} error(s) not raised in the framework (the suite's own: a defect to fix)"
    crashes = [r for r in mine if r["verdict"] == "error" and bug.crash and re.search(bug.crash, r.get("message") or "")]
    if side == "buggy" and not (counts.get("fail") or crashes):
        return f"{where}: the bug was not caught (no fail" + (", no crash of its own)" if bug.crash else ")")
    if side == "fixed" and (counts.get("fail") or counts.get("error")):
        return f"{where}: the fix release fails" + (" (the framework crashed)" if counts.get("error") else "")
    if side == "fixed" and not (counts.get("pass") or counts.get("known-deviation")):
        return f"{where}: nothing was checked"
    return None


def problems(results: Path, bugs=BUGS) -> list[str]:
    """Every way the history environments' results under ``results`` disagree with :data:`BUGS`."""
    found = []
    for bug in bugs:
        for side in ("buggy", "fixed"):
            release = bug.buggy if side == "buggy" else bug.fixed
            records = _records(results, release.env)
            problem = records if isinstance(records, str) else judge(bug, side, records)
            if problem:
                found.append(problem)
    return found


def table(results: Path | None = None, bugs=BUGS) -> list[str]:
    """The README's table as Markdown lines: release, upstream link, property, expected and (with
    ``results``) measured verdicts."""
    lines = ["| release | backend | upstream | property | expected | measured |", "|---|---|---|---|---|---|"]
    for bug in bugs:
        caught = "fail" + (" or its crash" if bug.crash else "")
        clean = "pass"
        caught += " (its known deviations disabled)" if bug.entries else ""
        for side, release in ((caught, bug.buggy), (clean, bug.fixed)):
            measured = ""
            if results is not None:
                records = _records(results, release.env)
                measured = "no results" if isinstance(records, str) else ", ".join(
                    f"{n} {v}" for v, n in sorted(verdicts(bug.records(records, release)).items()))
            backend = next(p for p in release.pins if p.startswith(f"{release.backend}=="))
            lines.append(f"| {release.package} {release.version} | {backend.replace('==', ' ')} | "
                         f"[{bug.id}]({bug.link}) | {bug.property} | {side} | {measured} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m bnconform.history RESULTS [--table]``: exit 0 when every buggy release fails its
    property and every fix release passes it, 1 otherwise (each problem printed), 2 on bad usage."""
    args = list(sys.argv[1:] if argv is None else argv)
    show = "--table" in args
    args = [a for a in args if a != "--table"]
    if len(args) != 1:
        print("usage: python -m bnconform.history RESULTS_DIR [--table]", file=sys.stderr)
        return 2
    results = Path(args[0])
    if show:
        print("\n".join(table(results)))
    found = problems(results)
    for problem in found:
        print(f"HISTORY {problem}")
    total = 2 * len(BUGS)
    print(f"history: {total - len(found)} of {total} releases as expected" if found else
          f"history: every buggy release caught, every fix release clean ({len(BUGS)} bugs, {total} releases)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
