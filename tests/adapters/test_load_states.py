"""``bnconform.adapters.load``: not installed (``Unavailable``, a skip) against installed but broken
(``Broken``, an error), told apart with fake packages written to a temporary directory on sys.path.

- neither a module nor a distribution: not installed;
- a package whose ``__init__`` raises (a broken wheel, a jaxlib mismatch): ``find_spec`` still finds
  it, so it is installed, and its ImportError is a ``Broken`` naming the exception;
- a distribution's metadata without its module (files deleted, a half-done uninstall): broken;
- a module that imports but whose adapter factory cannot build a layer: broken;
- ``bnconform.adapters.imported`` reports what a loaded target imported, None before or without a load.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from bnconform import adapters, engines
from bnconform.adapters import AdapterInfo

from . import toy_engine


@pytest.fixture
def registry(monkeypatch, tmp_path):
    """A private registry and load cache, with ``tmp_path`` on sys.path; the fake modules are
    dropped from ``sys.modules`` afterwards."""
    monkeypatch.setattr(adapters, "_REGISTRY", dict(adapters._REGISTRY))
    monkeypatch.setattr(adapters, "_LOADED", {})
    monkeypatch.setattr(engines, "_ENGINES", dict(engines._ENGINES))
    engines.register(toy_engine.ENGINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith("bnfake_"):
            del sys.modules[name]


def _add(name: str, module: str, requires: tuple[str, ...], factory: str = "load") -> AdapterInfo:
    info = AdapterInfo(name=name, framework=requires[0], module=module, factory=factory, requires=requires,
                       family=name, engine=toy_engine.NAME)  # placed on the host by the toy engine
    adapters.register(info)
    return info


def test_neither_module_nor_distribution_is_not_installed_and_unavailable(registry):
    info = _add("absent", "bnfake_absent", ("bnfake_absent",))
    assert info.missing() == "bnfake_absent is not installed"
    with pytest.raises(adapters.Unavailable, match="absent: bnfake_absent is not installed"):
        adapters.load("absent")


def test_a_package_whose_import_raises_is_installed_and_broken_naming_the_exception(registry):
    package = registry / "bnfake_flax"
    package.mkdir()
    (package / "__init__.py").write_text(
        'raise ImportError("bnfake_flax was built for jaxlib 0.99, found 0.10.2 (jaxlib mismatch)")\n')
    assert importlib.util.find_spec("bnfake_flax") is not None  # a spec without executing __init__
    info = _add("fake-flax", "bnfake_flax", ("bnfake_flax",))
    assert info.missing() is None
    with pytest.raises(adapters.Broken) as caught:
        adapters.load("fake-flax")
    broken = caught.value
    assert not isinstance(broken, adapters.Unavailable)  # an `except Unavailable: skip` cannot hide it
    assert (broken.target, broken.exc_type, broken.stage) == ("fake-flax", "ImportError", "import")
    assert "jaxlib mismatch" in broken.exc_message
    assert str(broken).startswith("fake-flax: installed but broken, fails to import: ImportError: bnfake_flax was")


def test_a_broken_target_raises_the_same_error_on_every_load_without_importing_again(registry):
    package = registry / "bnfake_once"
    package.mkdir()
    (package / "__init__.py").write_text(
        "import builtins\nbuiltins.bnfake_imports = getattr(builtins, 'bnfake_imports', 0) + 1\n"
        "raise RuntimeError('segfault averted')\n")
    _add("once", "bnfake_once", ("bnfake_once",))
    errors = []
    for _ in range(3):
        with pytest.raises(adapters.Broken) as caught:
            adapters.load("once")
        errors.append(caught.value)
    import builtins

    try:
        assert builtins.bnfake_imports == 1
    finally:
        del builtins.bnfake_imports
    assert len({id(e) for e in errors}) == 3 and len({str(e) for e in errors}) == 1
    assert errors[-1].exc_type == "RuntimeError"


def test_metadata_without_its_module_is_broken_not_absent(registry):
    dist = registry / "bnfake_ghost-2.5.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bnfake_ghost\nVersion: 2.5.0\n")
    importlib.invalidate_caches()
    info = _add("ghost", "bnfake_ghost", ("bnfake_ghost",))
    assert info.missing() is None
    with pytest.raises(adapters.Broken, match=r"ModuleNotFoundError: no module named 'bnfake_ghost', although "
                                              r"the distribution bnfake_ghost 2\.5\.0 is installed"):
        adapters.load("ghost")


def test_a_factory_that_cannot_build_a_layer_is_broken_at_build(registry):
    (registry / "bnfake_layers.py").write_text(
        "__version__ = '1.0'\n"
        "class BatchNorm:\n"
        "    def __init__(self):\n"
        "        raise TypeError('BatchNorm.__init__() got an unexpected keyword argument momentum')\n"
        "def load():\n"
        "    BatchNorm()  # the adapter builds a probe layer\n")
    _add("fake-layers", "bnfake_layers", ("bnfake_layers",))
    with pytest.raises(adapters.Broken) as caught:
        adapters.load("fake-layers")
    assert (caught.value.exc_type, caught.value.stage) == ("TypeError", "build")
    assert "fails to build its adapter: TypeError: BatchNorm.__init__() got" in str(caught.value)


def test_imported_reports_the_loaded_modules_version_and_nothing_before(registry):
    (registry / "bnfake_ok.py").write_text(
        "from bnconform import adapters\n"
        "__version__ = '3.1.4'\n"
        "def load():\n"
        "    return adapters.Adapter(name='fake-ok', framework='bnfake_ok', version=__version__,\n"
        "                            conventions=None, capabilities=adapters.Capabilities())\n")
    _add("fake-ok", "bnfake_ok", ("bnfake_ok",))
    assert adapters.imported("fake-ok") is None
    adapters.load("fake-ok")
    assert adapters.imported("fake-ok") == {"framework": "bnfake_ok", "version": "3.1.4", "backend": None}
    with pytest.raises(ValueError, match="unknown adapter 'nope'"):
        adapters.imported("nope")
