"""Test-wide settings: Keras 3 builds its reference models on the torch backend."""

import os

os.environ.setdefault("KERAS_BACKEND", "torch")
