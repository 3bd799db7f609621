"""``cnncost import``: a PyTorch model (torchvision, timm, or a callable of the user's) as a
readable spec. The importer's modules import torch; importing this package imports nothing.

The data flow, one stage per module:

- ``source``: a model reference (``torchvision:resnet50``, ``timm:convnext_tiny``,
  ``path/to/model.py:build_model``) -> the nn.Module and its default input;
- ``trace`` (torch.fx) or ``hooks`` (an eager run, where symbolic tracing fails) -> TraceNodes;
- ``convert`` through the mapping ``table`` -> an ImportedGraph of cnncost layers (``ir``);
- ``structure``: blocks for submodules of one class, repeats for runs of them, parameters
  (resolution, classes) -> a SpecDocument; ``emit`` writes it as YAML;
- ``figures``: the original model's own figures for the spec's ``documented`` section;
- ``roundtrip``: the written spec against the original model (what ``check --against`` and the
  catalogue run); ``catalogue``: every torchvision and a set of timm models -> reports/import.md.
"""
