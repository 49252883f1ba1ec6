"""``bnconform bisect`` on real releases: keras 3.0.4 detaches the batch statistics in the backward
pass on the torch backend (keras-team/keras PR #19102, released in 3.0.5), so ``bn_backward`` fails
on 3.0.4 and passes on 3.0.5, and the bisection between them must name 3.0.5 with both verdicts.

It installs two keras releases (with this environment's torch, about 1 GB each) from the package
index: minutes, and the index must be reachable, so it runs only with ``BNCONFORM_NETWORK=1`` (the
``network`` marker, pyproject.toml). The environments are kept in ``$BNCONFORM_BISECT_CACHE``, else
the command's default cache (``$BNCONFORM_BISECT_CACHE/pip`` and ``/uv``: one test per installer,
uv where it is on ``PATH``), so a second run only replays. Its last measured run is in docs/bisect.md.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _torch() -> str | None:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(os.environ.get("BNCONFORM_NETWORK", "") not in ("1", "true", "yes"),
                       reason="installs keras 3.0.4 and 3.0.5 from the package index (minutes, about 2 GB): "
                              "set BNCONFORM_NETWORK=1 to run it"),
    pytest.mark.skipif(_torch() is None, reason="needs torch in this environment (the environments keep its version)"),
]

# the default BNCase at 16 x 4: float32, normal inputs; dx of keras 3.0.4 is off by whole units
CASE = ('{"op":"batch_norm","shape":[16,4],"axis":-1,"dtype":"float32","eps":0.001,"momentum":0.99,"steps":1,'
        '"x":{"seed":0,"dist":"normal","loc":0.0,"scale":1.0,"constant_feature":null,"specials":[]},'
        '"params_seed":0,"random_params":true}')


@pytest.mark.parametrize("installer", [
    "pip", pytest.param("uv", marks=pytest.mark.skipif(shutil.which("uv") is None, reason="no uv on PATH"))])
def test_bisecting_keras_3_0_4_to_3_0_5_names_the_fix_of_the_detached_statistics(installer):
    cache = os.environ.get("BNCONFORM_BISECT_CACHE")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "bnconform", "bisect", "keras-torch", "bn_backward", "train", CASE,
                           "--package", "keras", "--from", "3.0.4", "--to", "3.0.5", "--installer", installer,
                           *(["--cache", str(Path(cache) / installer)] if cache else [])],
                          env=env, capture_output=True, text=True, timeout=3600)
    out = proc.stdout
    assert f"({installer})" in out.splitlines()[0]
    print(out, proc.stderr[-2000:], f"{time.monotonic() - started:.0f} s", sep="\n")
    assert proc.returncode == 0, out + proc.stderr
    assert "  keras 3.0.4: fail\n" in out and "  keras 3.0.5: pass\n" in out
    assert "first release whose verdict differs: 3.0.5 (pass); the release before it: 3.0.4 (fail)" in out
    # both releases' verdict lines: the gradient dx is wrong in 3.0.4 and within tolerance in 3.0.5
    bad, good = out.split("--- keras 3.0.4: fail")[1].split("--- keras 3.0.5: pass")
    assert "keras-torch (keras 3.0.4)" in bad and "Mismatched elements in 'dx'" in bad
    assert "keras-torch (keras 3.0.5)" in good and "'dx': all 64 elements within tolerance" in good
