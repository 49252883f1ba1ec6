"""What the CIFAR-10 and two-blob experiments share: the trainer contract, the job contract, the
targets' process environment, and per framework the machinery that turns a layer spec into a
trained network.

Between the adapters and the experiments in the import graph's layers: it imports the adapters'
registry and device placements, and :mod:`bnconform.cifar` and :mod:`bnconform.blobs` import it.
The experiments keep what is theirs (architectures, data, the training loop and its record, the
loss each reports); :mod:`bnconform.app.runner` (the parent side of a job) imports it too.

- ``targets``   the targets with a trainer, their environment before any framework's import, and
  :func:`~bnconform.training.targets.trainer_class` (a target's trainer in an experiment's package);
- ``jobs``      the job contract between the runner and an experiment's worker, its JSON round trip;
- ``trainer``   the :class:`~bnconform.training.trainer.Trainer` base every trainer implements, batching;
- ``versions``  the package versions a record states;
- ``torch_net``, ``keras_net``, ``flax_net``: per framework, the network of a layer spec, its
  initial weights, BN momentum convention, optimizer, determinism settings and train step.
"""
