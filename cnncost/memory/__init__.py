"""Memory models: what a network holds at inference and in a training step. Must not import torch.

- ``program``: the micro-program of one node (the ATen-level tensors its module allocates, views
  and in-place updates, what autograd saves, what each backward allocates); every operator's
  ``OpDef.memory`` rule writes one.
- ``engine``: runs those programs over a LayerGraph in execution order, with storage lifetimes,
  autocast, the autograd engine's backward order and the optimizer step; a timeline of events.
- ``optim``: optimizer state and step temporaries, by optimizer and implementation.
- ``models``: the named memory models (``eager``, ``liveness``, ``sum``) and ``analyze_memory``.
- ``report``: the result objects; ``fit``: the largest batch or resolution that fits a memory.
"""
