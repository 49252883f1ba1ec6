"""Which part of the batch-norm surface a user's layer (``--bn-impl``) takes: the input ranks beyond
2 and 4, and the constructor options.

A user's class is a drop-in for one framework layer (``torch.nn.BatchNorm2d``,
``keras.layers.BatchNormalization``), which need not take every rank or option the framework offers
elsewhere (PyTorch's ``BatchNorm2d`` itself refuses a 3-D input). So each is found out, not assumed:

- an option is drawn only where the constructor accepts its keyword (``inspect.signature``: a named
  parameter, or ``**kwargs``) *and* a layer constructed with it (the option turned off) can be built;
  otherwise it is not drawn, with the reason, which the coverage view shows (``Adapter.coverage``:
  ``batch_norm option affine``) and the run prints (``bnconform.conformance``'s report header);
- a rank is drawn only where one training and one inference call on an input of that rank succeed;
  otherwise the same, ``batch_norm rank 5``.

A refusal here is never an error: the layer is checked on the rest of the surface.
"""

from __future__ import annotations

import inspect
from typing import Callable


def signature_refusal(cls, spec: str, keyword: str) -> str | None:
    """Why ``cls``'s constructor cannot take ``keyword`` by its signature, or None (it names the
    keyword, takes ``**kwargs``, or has no signature to read)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return None
    if keyword in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return (f"--bn-impl {spec}: {cls.__name__}'s constructor accepts no {keyword!r} keyword "
            f"(inspect.signature), so {keyword}=False is not checked")


def tried(spec: str, what: str, attempt: Callable[[], object]) -> str | None:
    """None if ``attempt()`` runs, else the sentence naming what was tried and what it raised."""
    try:
        attempt()
    except Exception as e:  # noqa: BLE001 - the layer's own refusal is the reason
        text = " ".join(str(e).split())[:300]
        return f"--bn-impl {spec}: {what} raised {type(e).__name__}: {text}, so it is not checked"
    return None


def flag_refusals(cls, spec: str, keywords: dict[str, str], construct: Callable[[str], object]) -> dict[str, str | None]:
    """For each option (``cases.BN_FLAGS`` name -> the constructor keyword), None if the class takes
    it, else why not: its signature, or ``construct(keyword)`` (a layer with the option off) raising."""
    out = {}
    for flag, keyword in keywords.items():
        out[flag] = signature_refusal(cls, spec, keyword) or tried(
            spec, f"{cls.__name__}(..., {keyword}=False)", lambda: construct(keyword))
    return out


def rank_refusals(spec: str, ranks, call: Callable[[int], object], name: str) -> dict[int, str | None]:
    """For each rank, None if ``call(rank)`` (a training and an inference call) runs, else why not."""
    return {rank: tried(spec, f"{name} on a {rank}-D input", lambda r=rank: call(r)) for rank in ranks}
