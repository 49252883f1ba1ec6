"""bnconform: property-based conformance of batch normalization, 2-D convolution and pooling in
PyTorch, Keras, tf_keras, JAX and Flax against a float64 NumPy reference.

``bnconform run`` is the main job; ``pytest --pyargs bnconform.conformance`` is the same suite under
pytest. Importing this package imports nothing else (the ``pytest11`` entry point imports it in every
pytest run of the environment).
"""

__version__ = "0.2.0"
