"""Test-wide settings: Keras 3 builds its reference models on the torch backend; cnncost's pytest
plugin is registered when the installed package does not register it (a checkout on the path)."""

import importlib
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("cnncost"):  # the pytest11 entry point's name
        config.pluginmanager.register(importlib.import_module("cnncost.pytest_plugin"), "cnncost")
