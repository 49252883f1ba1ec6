"""The one registry of test targets: what each adapter is, how it loads, and which family it runs in.

Each :class:`AdapterInfo` entry of :data:`TARGETS` states, once, every fact about a target that
other parts of the project need, so that none of them keeps a list of its own:

- ``framework``, ``requires``, ``backend``, ``backend_distribution``: what is installed and what the
  report names (read from the distributions' metadata, nothing imported);
- ``module`` and ``factory``: where the adapter is built (``load`` imports the framework);
- ``family``: the process group of ``bnconform run`` (one pytest process per family: torch and
  torch-functional share one, jax, flax-linen and flax-nnx another, each Keras backend has its own
  because Keras fixes its backend at import, tf_keras its own). ``bnconform.app.cli`` groups by it,
  and ``tests/meta/test_registry.py`` checks that the tox environments' target lists are whole
  families of it;
- ``engine``: the array library that computes, the name of its record in :mod:`bnconform.engines`
  (torch, jax or tensorflow; a Keras 3 target's is its backend's): placement (Keras 3 through
  ``keras.device`` on top), math mode, determinism, threads and kernel configurations come from it;
- ``trainer``: the kind of CIFAR-10 / two-blob trainer (``bnconform/cifar/backends/<trainer>_trainer.py``,
  ``bnconform/blobs/backends/<trainer>_trainer.py``), None where the target has none.

Adding a target for an existing engine is one entry here, its adapter module and its tox
environment's lines; a new engine adds its record (``docs/design.md``, "How to add an adapter").
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass

from bnconform import engines

from . import contract
from .base import Adapter, Broken, Unavailable

__all__ = ["AdapterInfo", "SUPPORTED", "TARGETS", "families", "distribution_version", "module_distribution"]


@dataclass(frozen=True, kw_only=True)
class AdapterInfo:
    name: str
    framework: str  # the distribution whose version names the framework's release
    module: str
    factory: str
    requires: tuple[str, ...]  # modules that must be importable
    family: str  # the process group of `bnconform run` (and a tox environment holds whole families)
    engine: str | None = None  # a bnconform.engines record's name; None: a Keras target whose backend the loaded adapter says
    backend: str | None = None  # the Keras backend (tensorflow for tf_keras), as the report names it
    backend_distribution: str | None = None  # e.g. "tensorflow-cpu" under Keras
    trainer: str | None = None  # the CIFAR-10 / two-blob trainer kind: keras, torch, flax; None: none

    def missing(self) -> str | None:
        """Why this adapter cannot load because its framework is not installed, judged without
        importing anything; None if every required module is there (it may still be broken:
        :meth:`load` says). A module counts as absent only when it has no spec AND no distribution
        of that name is installed: metadata without its module is a broken install, not a skip."""
        for module in self.requires:
            if _module_spec(module) is None and module_distribution(module) is None:
                return f"{module} is not installed"
        return None

    def version(self) -> str | None:
        return distribution_version(self.framework)

    def supported(self) -> dict[str, str]:
        """``{distribution: PEP 440 range}`` of the releases this target is supported in (:data:`SUPPORTED`):
        its framework's, and its Keras backend's."""
        names = [self.framework] + ([self.backend] if self.backend else [])
        return {name: SUPPORTED[name] for name in names}

    def check_installed(self) -> None:
        """Raise what can be told without importing: ``Unavailable`` (not installed) or ``Broken``
        (a distribution's metadata without its module)."""
        reason = self.missing()
        if reason:
            raise Unavailable(f"{self.name}: {reason}")
        for module in self.requires:
            if _module_spec(module) is None:  # missing() passed, so its distribution is there
                dist, version = module_distribution(module)
                raise Broken(self.name, "ModuleNotFoundError",
                             f"no module named {module!r}, although the distribution {dist} {version} is "
                             "installed (its metadata is there, its files are not)")

    def load(self, device: str = "cpu") -> Adapter:
        """The adapter, placed on ``device`` (``bnconform.adapters.device``); ``Unavailable`` when not installed
        or the device is not there, ``Broken`` when installed but failing."""
        self.check_installed()
        try:
            module = importlib.import_module(self.module)
        except (Unavailable, Broken):
            raise
        except Exception as e:  # noqa: BLE001 - any import failure of an installed framework is an error
            raise Broken(self.name, type(e).__name__, str(e), stage="import") from e
        placement = self.placement(device)  # Unavailable: no such device on this machine
        try:
            adapter = contract.check(getattr(module, self.factory)())  # its ops' methods are there
        except (Unavailable, Broken):
            raise
        except Exception as e:  # noqa: BLE001 - the framework imported but cannot build its objects
            raise Broken(self.name, type(e).__name__, str(e), stage="build") from e
        adapter.device = placement
        return adapter

    def engine_name(self, backend: str | None = None) -> str:
        """The name of the engine that computes this target: ``engine``, else (a Keras class given with
        ``--bn-impl``) the loaded adapter's ``backend``; ``bnconform.engines.UnknownEngine`` if neither
        names one."""
        name = self.engine or backend
        if name is None:
            raise engines.UnknownEngine(f"target {self.name} names no engine (AdapterInfo.engine); known: "
                                        f"{', '.join(e.name for e in engines.all_engines())}")
        return name

    def engine_record(self, backend: str | None = None) -> engines.Engine:
        """This target's :class:`bnconform.engines.Engine` (``UnknownEngine`` naming a name without a record)."""
        return engines.get(self.engine_name(backend))

    def placement(self, device: str, backend: str | None = None):
        """This adapter's ``bnconform.adapters.device.Placement`` for ``device`` (``Unavailable`` if
        absent): its engine's, through ``keras.device`` for a Keras 3 target."""
        from . import device as dev

        return dev.placement(self.name, self.engine_name(backend), dev.normalize(device),
                             keras=self.framework == "keras")


def _module_spec(module: str):
    """``find_spec(module)``, or a marker object when finding it raises (a module in ``sys.modules``
    without a spec, a finder that fails): something is there, so it is not "not installed"."""
    try:
        return importlib.util.find_spec(module)
    except Exception:  # noqa: BLE001 - present but odd: let the import say what is wrong
        return _PRESENT


_PRESENT = object()

#: Layer APIs installed as an importable module under another name (engines: their records'
#: ``module_distributions``).
_MODULE_DISTRIBUTIONS = {
    "tf_keras": ("tf-keras",),
}


def _module_distributions() -> dict[str, tuple[str, ...]]:
    found = dict(_MODULE_DISTRIBUTIONS)
    for engine in engines.all_engines():
        found.update(engine.module_distributions)
    return found


def module_distribution(module: str) -> tuple[str, str] | None:
    """``(distribution, version)`` of an installed distribution that provides ``module``, else None."""
    for dist in _module_distributions().get(module, (module,)):
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def distribution_version(name: str) -> str | None:
    """The installed version of the distribution ``name`` (an engine's under any of its names, e.g.
    TensorFlow's ``tensorflow-cpu``)."""
    found = module_distribution(name) if name in _module_distributions() else None
    if found is not None:
        return found[1]
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


#: The releases each framework distribution is supported in: the one place (pyproject's extras and
#: the README's "Supported releases" table agree with it: tests/meta/test_supported.py). What each
#: bound rests on:
#:
#: - torch: 2.13.0, the oldest CPU wheel the package registry offers (older releases there are
#:   CUDA builds only, several GB each; they were not examined);
#: - keras: Keras 3 from 3.0 (3.0.2 to 3.0.5, 3.4.1 and 3.5.0 run in ``tox -m history``);
#: - jax (and jaxlib): 0.4.23, the release Keras 3.0 installs with (``tox -m history``);
#: - flax: 0.10, the first whose ``nnx`` API the flax-nnx adapter uses;
#: - tensorflow and tf_keras: 2.15, the first tf_keras release (Keras 2 split from TensorFlow).
SUPPORTED: dict[str, str] = {
    "torch": ">=2.13",
    "keras": ">=3.0",
    "tensorflow": ">=2.15",
    "tf_keras": ">=2.15",
    "jax": ">=0.4.23",
    "flax": ">=0.10",
}

_KERAS = "bnconform.adapters.keras_adapter"

#: every target the suite knows, in the order runs and reports list them
TARGETS: tuple[AdapterInfo, ...] = (
    AdapterInfo(name="torch", framework="torch", module="bnconform.adapters.torch_adapter", factory="load",
                requires=("torch",), family="torch", engine="torch", trainer="torch"),
    AdapterInfo(name="torch-functional", framework="torch", module="bnconform.adapters.torch_adapter",
                factory="load_functional", requires=("torch",), family="torch", engine="torch"),
    AdapterInfo(name="keras-tensorflow", framework="keras", module=_KERAS, factory="load_tensorflow",
                requires=("keras", "tensorflow"), family="keras-tensorflow", engine="tensorflow",
                backend="tensorflow", backend_distribution="tensorflow", trainer="keras"),
    AdapterInfo(name="keras-jax", framework="keras", module=_KERAS, factory="load_jax",
                requires=("keras", "jax"), family="keras-jax", engine="jax",
                backend="jax", backend_distribution="jax", trainer="keras"),
    AdapterInfo(name="keras-torch", framework="keras", module=_KERAS, factory="load_torch",
                requires=("keras", "torch"), family="keras-torch", engine="torch",
                backend="torch", backend_distribution="torch", trainer="keras"),
    AdapterInfo(name="tf_keras", framework="tf_keras", module="bnconform.adapters.tf_keras_adapter", factory="load",
                requires=("tf_keras", "tensorflow"), family="tf_keras", engine="tensorflow",
                backend="tensorflow", backend_distribution="tensorflow"),
    AdapterInfo(name="jax", framework="jax", module="bnconform.adapters.jax_adapter", factory="load",
                requires=("jax",), family="jax", engine="jax"),
    AdapterInfo(name="flax-linen", framework="flax", module="bnconform.adapters.flax_adapter", factory="load_linen",
                requires=("flax", "jax"), family="jax", engine="jax", trainer="flax"),
    AdapterInfo(name="flax-nnx", framework="flax", module="bnconform.adapters.flax_adapter", factory="load_nnx",
                requires=("flax", "jax"), family="jax", engine="jax"),
)


def families(infos=TARGETS) -> dict[str, tuple[str, ...]]:
    """``{family: (target, ...)}`` in registry order: ``bnconform run``'s process groups."""
    groups: dict[str, list[str]] = {}
    for info in infos:
        groups.setdefault(info.family, []).append(info.name)
    return {family: tuple(names) for family, names in groups.items()}
