"""TensorFlow / Keras sources: tf_keras and Keras 3 models, ``tf.function`` and concrete
functions, SavedModel directories, ``.h5`` and ``.keras`` files.

TensorFlow is imported when a source is created, never when this package is imported.
"""

from .files import is_tensorflow_path
from .source import TensorFlowSource

__all__ = ["TensorFlowSource", "is_tensorflow_path"]
