"""Pictures of the reports: the HTML report, architecture drawings and plots. Must not import torch.

Renderers take the report objects (``CostReport``, ``DiffReport``, zoo rows) and never compute a
cost themselves. The heavy libraries are imported inside the functions that draw: matplotlib
(``charts``), the ``graphviz`` package (``dot``) and jinja2 (``html``), so importing this
package, or ``cnncost report`` in the terminal, loads none of them. They come with the
``pictures`` extra (``pip install -e ".[pictures]"``).
"""
