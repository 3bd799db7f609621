"""cnncost: exact, convention-named analytic cost analysis of CNNs declared in YAML.

The analytic path (spec, graph, ops, cost, report, CLI report/diff/validate/schema) never
imports torch; ``cnncost.bridge`` does, lazily.
"""

__version__ = "0.1.0"
