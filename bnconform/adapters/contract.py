"""The adapter contract: three operations on typed inputs, and three optional ones.

An adapter is an object with the attributes of ``bnconform.adapters.base.Adapter`` (name, framework, version,
conventions, capabilities; the base class gives them and the defaults for placement, coverage and
refusals) and, for every op it lists in ``capabilities.ops``, that op's method:

====================  ===========================================================================
``batch_norm``        ``bn(case, inputs, *, training, grads) -> BNRun`` (:class:`SupportsBN`)
``conv2d``            ``conv2d(case, inputs) -> ndarray`` (:class:`SupportsConv2d`)
``pool2d``            ``pool2d(case, inputs) -> ndarray`` (:class:`SupportsPool2d`)
====================  ===========================================================================

``case`` is a ``bnconform.cases`` spec and ``inputs`` its materialized values
(``materialize_bn``/``_conv``/``_pool``: float64 arrays exactly representable in ``case.dtype``); the
result is float64 NumPy. ``bn`` runs ``case.steps`` training calls when ``training`` (one per batch of
``inputs.xs``), else one inference call on ``inputs.xs[0]``; with ``grads`` the last call's gradients
of ``sum(y * inputs.dy)``. ``bnconform.adapters.steps`` is the shared loop.

Optional, each a small protocol of its own, checked by its caller with ``isinstance`` and skipped with
a reason where absent:

- :class:`SupportsBNSequence` ``bn_sequence(case, inputs, calls)``: the ``bn_call_sequence`` property;
- :class:`SupportsBNMasked` ``bn_masked(case, inputs, *, training)``: the ``bn_masked`` property;
- :class:`SupportsBNSynchronized` ``bn_synchronized(case, inputs, *, training, grads)`` and
  ``synchronized_refusal()``: the ``bn_synchronized`` property;
- :class:`SupportsBNDefault` ``bn_default(x, *, training)``: a layer with every default, for the
  fingerprint's probes (``bnconform.adapters.fingerprint``);
- :class:`SupportsBareCall` ``bare_call(prop, mode, case, inputs)``: the framework's own work only,
  for the benchmark (``benchmarks/per_example.py``).

:func:`check` refuses, when the adapter is built or registered, an adapter that lists an op without
its method (``runtime_checkable`` protocols check that the method is there, not its signature).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SupportsBN(Protocol):
    def bn(self, case, inputs, *, training: bool, grads: bool = False) -> Any:
        """Build a layer holding ``inputs``' gamma, beta and moving statistics and run the case's
        calls (``bnconform.adapters.steps``); return a ``BNRun`` (float64; gradients None unless ``grads``)."""


@runtime_checkable
class SupportsConv2d(Protocol):
    def conv2d(self, case, inputs) -> Any:
        """``inputs``: ``ConvInputs(x, w OIHW, b or None)``; y in the case's data format."""


@runtime_checkable
class SupportsPool2d(Protocol):
    def pool2d(self, case, inputs) -> Any:
        """``inputs``: x (``materialize_pool``); y in the case's data format."""


@runtime_checkable
class Ops(SupportsBN, SupportsConv2d, SupportsPool2d, Protocol):
    """An adapter offering all three ops (most offer a subset: see :data:`OP_PROTOCOLS`)."""


@runtime_checkable
class SupportsBNSequence(Protocol):
    def bn_sequence(self, case, inputs, calls: tuple[str, ...]) -> list:
        """One layer holding ``inputs``' values, the calls made in order, call i on ``inputs.xs[i]``:
        each ``"train"``, ``"inference"`` or ``"no-flag"`` (no training flag, Keras's ``layer(x)``).
        After each call its output and the moving statistics the layer then holds, as ``BNRun``s
        (float64 copies, no gradients). Switching modes must not disturb the layer's state, and
        ``momentum=None`` counts the training calls only."""


@runtime_checkable
class SupportsBNMasked(Protocol):
    def bn_masked(self, case, inputs, *, training: bool) -> Any:
        """``bn`` with ``inputs.mask`` (``bnconform.cases.mask_of``: x's shape without the feature axis,
        sizes kept or 1) passed to every call as the framework's mask (Keras: ``call(x, training,
        mask)``); a ``BNRun`` without gradients."""


@runtime_checkable
class SupportsBNSynchronized(Protocol):
    def bn_synchronized(self, case, inputs, *, training: bool, grads: bool = False) -> Any:
        """``bn`` through the framework's synchronized (cross-replica) batch norm on one replica
        (``bnconform.synchronized_checks``); a ``BNRun``."""

    def synchronized_refusal(self) -> str | None:
        """Why the framework refuses its synchronized batch norm here (e.g. on this device), found by
        trying it once; None where it runs."""


@runtime_checkable
class SupportsBNDefault(Protocol):
    def bn_default(self, x, *, training: bool | None) -> Any:
        """The framework's BN layer built with every default for an input like ``x`` (float32),
        called once (``training`` True/False, or None: no flag); a ``DefaultRun``
        (``bnconform.adapters.steps.default_run`` records a refusal instead of raising)."""


@runtime_checkable
class SupportsBareCall(Protocol):
    def bare_call(self, prop: str, mode: str, case, inputs) -> Any:
        """A zero-argument callable doing only the framework's own work for this example: inputs
        already framework tensors, the layer already built and holding the case's values; the same
        calls as the adapter's (every step of a batch-norm case, the last with its gradients for
        ``prop == "bn_backward"``), without the conversions. It returns the last call's output
        (JAX: waited for), or a tuple whose first item is it. ``prop`` is a ``bnconform.checks`` name."""


#: The method each op needs.
OP_PROTOCOLS = {"batch_norm": SupportsBN, "conv2d": SupportsConv2d, "pool2d": SupportsPool2d}
OP_METHODS = {"batch_norm": "bn", "conv2d": "conv2d", "pool2d": "pool2d"}
OPTIONAL = {"bn_sequence": SupportsBNSequence, "bn_default": SupportsBNDefault, "bare_call": SupportsBareCall,
            "bn_masked": SupportsBNMasked, "bn_synchronized": SupportsBNSynchronized}


class ContractError(TypeError):
    """An adapter that does not keep the contract (an op listed without its method, an unknown op)."""


def check(adapter):
    """Return ``adapter`` if it has a method for every op its capabilities list, else raise
    :class:`ContractError` naming the adapter, the op and the missing method."""
    name = getattr(adapter, "name", type(adapter).__name__)
    caps = getattr(adapter, "capabilities", None)
    if caps is None:
        raise ContractError(f"adapter {name!r} ({type(adapter).__name__}): no capabilities")
    unknown = [op for op in caps.ops if op not in OP_PROTOCOLS]
    if unknown:
        raise ContractError(f"adapter {name!r}: unknown ops {unknown} in capabilities.ops; known: {list(OP_PROTOCOLS)}")
    missing = [f"{op} needs {OP_METHODS[op]}()" for op in caps.ops if not isinstance(adapter, OP_PROTOCOLS[op])]
    if missing:
        raise ContractError(f"adapter {name!r} ({type(adapter).__name__}) lists ops it does not implement: "
                            + "; ".join(missing) + " (bnconform.adapters.contract)")
    return adapter


def lacks(adapter, optional: str) -> str | None:
    """Why ``adapter`` cannot serve the optional call ``optional`` (``"bn_sequence"``,
    ``"bn_default"`` or ``"bare_call"``), or None when it offers it: the reason to skip with."""
    if isinstance(adapter, OPTIONAL[optional]):
        return None
    return f"{getattr(adapter, 'name', type(adapter).__name__)} does not implement {optional} (bnconform.adapters.contract)"
