"""Test-wide settings: Keras 3 builds its reference models on the torch backend; cnncost's pytest
plugin is registered when the installed package does not register it (a checkout on the path)."""

import importlib
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("cnncost"):  # the pytest11 entry point's name
        config.pluginmanager.register(importlib.import_module("cnncost.pytest_plugin"), "cnncost")


#: The heavy remainder (``pytest -m heavy``; not in the default run, which CI runs): the largest
#: members of families whose smaller members run by default and exercise the same operators,
#: flavors and code paths (EfficientNet B0/B1 and B5's epsilon, NASNet Mobile, SE-ResNet-50,
#: DenseNet-121, ResNet-50, RegNets up to 1.6 GF); their figures are also in the committed
#: zoo reports, which default tests keep current.
HEAVY = (
    "test_bridge_keras_outputs.py::test_keras_flavor_computes_what_keras_computes[nasnet@large]",
    "test_bridge_keras_outputs.py::test_keras_flavor_computes_what_keras_computes[efficientnet@b3]",
    *(f"test_bridge_reference_models.py::test_spec_module_{kind}_what_the_reference_{kind}"
      f"[{case}]"
      for kind in ("counts", "computes")
      for case in ("nasnet@large", "efficientnet@torchvision_b2", "efficientnet@torchvision_b3",
                   "efficientnet@torchvision_b4", "efficientnet@torchvision_b6",
                   "efficientnet@torchvision_b7", "densenet@densenet169",
                   "densenet@densenet201", "se_resnet@seresnet101", "se_resnet@seresnet152",
                   "resnet@resnet101", "resnet@resnet152")),
    ("test_bridge_reference_models.py::test_spec_module_counts_what_the_reference_counts"
     "[efficientnet@torchvision_b5]"),  # its outputs (batch-norm epsilon 1e-3) stay in
    *(f"test_bridge_reference_segmentation.py::test_spec_module_counts_what_the_reference_counts"
      f"[regnet@{v}]" for v in ("y_3_2gf", "x_3_2gf", "x_8gf")),
    *(f"test_check_every_spec.py::test_check_passes[{case}]"
      for case in ("nasnet.yaml@large", "efficientnet.yaml@b6", "efficientnet.yaml@b7",
                   "efficientnet.yaml@torchvision_b6", "efficientnet.yaml@torchvision_b7",
                   "regnet.yaml@y_16gf", "regnet.yaml@y_32gf", "regnet.yaml@y_128gf",
                   "regnet.yaml@x_16gf", "regnet.yaml@x_32gf", "regnet.yaml@y_8gf",
                   "regnet.yaml@x_8gf", "densenet.yaml@densenet201",
                   "densenet.yaml@keras_densenet201")),
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.endswith(HEAVY):
            item.add_marker(pytest.mark.heavy)
