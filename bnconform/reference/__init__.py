"""The float64 NumPy reference that every framework is checked against.

One small module per op, each citing the equations it implements:

- ``batch_norm``          forward, training and inference (Ioffe and Szegedy 2015, Algorithm 1)
- ``batch_norm_backward`` dx, dgamma, dbeta in closed form
- ``batch_norm_options``  both under the constructor options (affine/scale/center, track_running_stats, trainable)
- ``moving_stats``        the moving-statistics update, Keras and PyTorch conventions
- ``windows``             padding, output sizes and sliding windows (shared by conv and pooling)
- ``conv``                2-D cross-correlation and true convolution
- ``pool``                max, average, Lp-norm and global-average pooling
"""

from .batch_norm import (
    BatchNormOutput,
    BatchStats,
    batch_norm_inference,
    batch_norm_train,
    batch_stats,
    normalize,
)
from .batch_norm_backward import BatchNormGrads, batch_norm_inference_backward, batch_norm_train_backward
from . import batch_norm_options
from .conv import conv2d, flip_kernel, true_conv2d
from .moving_stats import CONVENTIONS, MovingStats, closed_form, update_moving_stats
from .pool import avg_pool2d, global_avg_pool2d, lp_pool2d, max_pool2d
from .windows import same_padding

__all__ = [
    "batch_norm_options",
    "BatchNormGrads",
    "BatchNormOutput",
    "BatchStats",
    "CONVENTIONS",
    "MovingStats",
    "avg_pool2d",
    "batch_norm_inference",
    "batch_norm_inference_backward",
    "batch_norm_train",
    "batch_norm_train_backward",
    "batch_stats",
    "closed_form",
    "conv2d",
    "flip_kernel",
    "global_avg_pool2d",
    "lp_pool2d",
    "max_pool2d",
    "normalize",
    "same_padding",
    "true_conv2d",
    "update_moving_stats",
]
