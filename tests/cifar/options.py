"""Command-line options of the CIFAR-10 tests (test tooling: it lives under ``tests/``).

pytest reads options only from initial conftests: ``tests/cifar/conftest.py`` registers these with
:func:`add_options`, for ``pytest tests/cifar``; a conftest that registers them as well may call it
too (registering twice is harmless). Each option also has an environment variable.
"""

from __future__ import annotations

OPTIONS = (
    ("--require-data", {"action": "store_true", "default": None,
                        "help": "fail, instead of skip, the CIFAR-10 tests when the data is missing "
                                "(env BNCONFORM_REQUIRE_DATA=1)"}),
    ("--cifar-path", {"default": None, "metavar": "PATH",
                      "help": "CIFAR-10 archive, folder or JPEG zip (env CIFAR10_PATH)"}),
    ("--cifar-profile", {"default": None, "metavar": "NAME",
                         "help": "profile of the gated CIFAR-10 tests: quick (default), standard, "
                                 "full (env BNCONFORM_CIFAR_PROFILE)"}),
    ("--cifar-targets", {"default": None, "metavar": "T1,T2",
                         "help": "comma-separated CIFAR-10 targets (default all; env "
                                 "BNCONFORM_CIFAR_TARGETS)"}),
)


def add_options(parser) -> None:
    group = parser.getgroup("bnconform-cifar", "CIFAR-10 accuracy regression")
    for name, kwargs in OPTIONS:
        try:
            group.addoption(name, **kwargs)
        except ValueError:  # already registered by the other conftest
            pass
