"""End-to-end CIFAR-10 accuracy regression (issue 6).

The course material trains two small CNNs with batch normalization on CIFAR-10. This package
re-runs them in Keras 3 (each backend), PyTorch and JAX/Flax from the same NumPy initial weights
and the same data order, and gates the accuracy they reach on recorded baselines.

Modules, one concept each:

- ``errors``    the exceptions the data layer raises;
- ``locate``    where the data is looked for (option, ``CIFAR10_PATH``, the usual caches);
- ``unpickle``  the restricted unpickler for the official python batches;
- ``official``  reader of ``cifar-10-python.tar.gz`` / ``cifar-10-batches-py/`` (md5 checked);
- ``jpeg``      reader of the offline JPEG copy (``cifar10-jpeg.zip``);
- ``cache``     the decoded-array cache;
- ``dataset``   ``load()``: locate, read or take from the cache, describe the data copy;
- ``archs``     the two architectures, framework-neutral, with and without BN;
- ``weights``   initial weights generated once in NumPy, and their layout in each framework;
- ``settings``  the optimizer and BN hyper-parameters every framework uses;
- ``order``     the shared data order;
- ``profiles``  ``quick``, ``standard``, ``full``;
- ``backends``  one trainer per target (Keras on each backend, PyTorch, Flax linen), on the shared
  trainer contract and per-framework machinery of :mod:`bnconform.training`;
- ``train``     the framework-neutral training loop and the run record;
- ``epoch_bar`` the progress bar of a worker's epochs;
- ``stats``     Student t quantiles and the one-sided prediction bound;
- ``baselines`` the baseline store (``bnconform/cifar/baselines/*.json``);
- ``verdict``   verdicts of a run against its baseline;
- ``parity``    float64 NumPy forward pass and its float32 rounding-error bound;
- ``worker``    the job (:class:`~bnconform.cifar.worker.Job`) and what its worker process computes;
  :mod:`bnconform.app.runner` starts the process, :mod:`bnconform.app.cifar_cli` is
  ``python -m bnconform.cifar ...``.
"""
