"""Names and references: the node a reference means at a point of the expansion, and the local
name an item gets. Must not import torch.

References resolve, innermost scope first, to earlier named items, a block's inputs, or ``@-k``
(the k-th previous item of the current sequence; a repeat's iterations count as items);
``a|b`` takes the first that exists. An item without a name gets its operator's (or block's)
name, numbered from ``_1`` when taken.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from cnncost.errors import Problem
from cnncost.graph.layergraph import LayerNode
from cnncost.graph.problems import Failed, Problems
from cnncost.graph.scope import History, Scope
from cnncost.spec import model as m


class Built:
    """The nodes expanded so far, by name (and their names in order, ``added``), the names of
    the items that failed, and the scope prefixes that names given with dots claimed
    (``claimed``; ``claims`` in the order they were made): ``stage.conv`` written in scope
    ``net.`` puts a layer under ``net.stage.``, which a later call named ``stage`` would share.
    """

    def __init__(self) -> None:
        self.nodes: dict[str, LayerNode] = {}
        self.added: list[str] = []
        self.failed: set[str] = set()
        self.claimed: set[str] = set()
        self.claims: list[str] = []

    def add(self, node: LayerNode) -> None:
        self.nodes[node.name] = node
        self.added.append(node.name)

    def claim(self, prefix: str, local: str) -> None:
        """Record the prefixes a dotted local name ``local`` in scope ``prefix`` reaches into."""
        end = local.find(".")
        while end >= 0:
            claimed = prefix + local[:end + 1]
            if claimed not in self.claimed:
                self.claimed.add(claimed)
                self.claims.append(claimed)
            end = local.find(".", end + 1)

    def taken(self, name: str) -> bool:
        return name in self.nodes or name in self.failed


class References:
    """Resolves references and names items, recording a located problem for a bad one."""

    def __init__(self, built: Built, problems: Problems,
                 interpolate: Callable[[str, Scope, tuple[Any, ...]], str]) -> None:
        self.built = built
        self.problems = problems
        self.interpolate = interpolate

    def local_name(self, given: str | None, default: str, scope: Scope,
                   path: tuple[Any, ...]) -> str:
        """The item's local name: ``given`` (interpolated, and unused in the scope), or the first
        free one of ``default``, ``default_1``, ``default_2``...

        Raises:
            Failed: ``given`` is empty, has an empty dotted part, or is taken.
        """
        taken, prefix = self.built.taken, scope.prefix
        if given is not None:
            local = self.interpolate(given, scope, (*path, "name")) if "{" in given else given
            if "." in local:
                self.built.claim(prefix, local)
            if not local or any(not part for part in local.split(".")):
                self.problems.fail("schema", f"invalid name {local!r}", scope, (*path, "name"))
            if taken(prefix + local) or local in scope.names:
                self.problems.fail("duplicate-name", f"name {local!r} is already used in this "
                                   "scope", scope, (*path, "name"), prefix + local)
            return local
        # names are never freed, so every number below the last one handed out is still taken
        key = (prefix, default)
        k = scope.names.next_index.get(key, 0)
        local = default if k == 0 else f"{default}_{k}"
        while taken(prefix + local) or local in scope.names:
            k += 1
            local = f"{default}_{k}"
        scope.names.next_index[key] = k
        return local

    def inputs(self, body: m.Body, scope: Scope, history: History,
               path: tuple[Any, ...]) -> list[str]:
        """The nodes an item reads: its ``inputs``, its ``input``, or the previous item's output.

        Raises:
            Failed: a reference that does not resolve, or nothing before a first item.
        """
        if body.inputs is not None:
            return [self.resolve(ref, scope, history, (*path, "inputs", i))
                    for i, ref in enumerate(body.inputs)]
        if body.input is not None:
            return [self.resolve(body.input, scope, history, (*path, "input"))]
        last = history.last()
        if last is None:
            self.problems.fail("reference", "nothing precedes this item; give 'input'", scope,
                               path)
        return [last]

    def first_quietly(self, body: m.Body, scope: Scope, history: History) -> str | None:
        """The item's first input if its reference resolves, else None, recording nothing: what
        an item's ``when`` may read before its references are resolved (a disabled item's
        references need not exist)."""
        refs = body.inputs if body.inputs is not None else (
            [body.input] if body.input is not None else None)
        if refs is None:
            return history.last()
        if not refs or "{" in refs[0]:
            return None
        try:
            return self.lookup(refs[0], scope, history)
        except ValueError:
            return None

    def lookup(self, text: str, scope: Scope, history: History) -> str | None:
        """The node a reference names, or None; raises ValueError for a malformed @-k."""
        for alternative in (a.strip() for a in text.split("|")):
            if alternative.startswith("@-"):
                try:
                    back = int(alternative[2:])
                except ValueError:
                    back = 0
                if back <= 0:
                    raise ValueError(f"bad relative reference {alternative!r}; use @-1, @-2, ...")
                found = history.back(back)
                if found is not None:
                    return found
                continue
            s: Scope | None = scope
            while s is not None:
                if alternative in s.names:
                    return s.names[alternative]
                full = s.prefix + alternative
                if self.built.taken(full):
                    return full
                s = s.parent
        return None

    def resolve(self, ref: str, scope: Scope, history: History, path: tuple[Any, ...]) -> str:
        """The node ``ref`` names here.

        Raises:
            Failed: it names nothing (the problem suggests the closest visible name).
        """
        text = self.interpolate(ref, scope, path) if "{" in ref else ref
        try:
            found = self.lookup(text, scope, history)
        except ValueError as err:
            self.problems.fail("reference", str(err), scope, path)
        if found is not None:
            return found
        visible = scope.visible()
        close = difflib.get_close_matches(text, visible, n=1)
        hint = f"did you mean {close[0]!r}?" if close else (
            f"names here: {', '.join(visible)}" if 0 < len(visible) <= 8 else None)
        self.problems.fail("reference", f"no layer or input named {text!r} before this point"
                           + (f" in {scope.prefix[:-1]!r}" if scope.prefix else ""), scope, path,
                           hint=hint)

    def scope_clashes(self) -> list[Problem]:
        """A layer whose name is also the dotted scope of other layers (``a`` and ``a.b``)."""
        out = []
        nodes = self.built.nodes
        for a, b in pairwise(sorted(nodes)):
            if b.startswith(a + "."):
                node = nodes[a]
                out.append(Problem("duplicate-name", f"{a!r} names both a layer and the block "
                                   f"around {b!r}", node.location, a, hint="rename the layer"))
        return out


__all__ = ["Built", "Failed", "References"]
