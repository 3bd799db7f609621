"""Repeats: a run of calls of one block, named ``prefix.k``, ``prefix.k+1``... each reading the
previous one's output, becomes one ``repeat`` item (three calls or more, or two alike: two calls
that differ read better as two lines). Must not import torch.

An argument the same in every iteration is written once; one that differs is an expression of
the iteration index ``i``: ``i == 0`` (a flag of the first iteration only), ``2 if i == 0 else
1`` (the first differs), or a list indexed by ``i``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from cnncost.importer.ir import Expr
from cnncost.importer.items import Item, NodeRef, literal_text

if TYPE_CHECKING:
    from cnncost.importer.blocks import BlockDef


_INDEXED = re.compile(r"^(?P<prefix>.*?)(?P<index>\d+)$")


def split_index(name: str) -> tuple[str, int] | None:
    """``layer1.3`` -> (``layer1.``, 3); ``block2-3`` -> (``block2-``, 3); ``3`` -> (``""``, 3);
    None where the name does not end in a number after ``.``, ``-`` or ``_``."""
    found = _INDEXED.match(name)
    if found is None or (found["prefix"] and found["prefix"][-1] not in ".-_"):
        return None
    return found["prefix"], int(found["index"])


def _follows(item: Item, previous: Item, run: list[Item]) -> bool:
    split, first = split_index(item.name), split_index(run[0].name)
    return (item.kind == "call" and item.key == run[0].key and item.when is None
            and split is not None and first is not None and split[0] == first[0]
            and split[1] == first[1] + len(run)
            and item.slots == [(NodeRef(previous.output),)])


def _by_index(values: list[Any]) -> Any:
    """One value per iteration as a value or an expression of ``i``."""
    if all(v == values[0] for v in values):
        return values[0]
    n = len(values)
    if all(isinstance(v, bool) for v in values):
        if values == [True] + [False] * (n - 1):
            return Expr("i == 0", None)
        if values == [False] + [True] * (n - 1):
            return Expr("i > 0", None)
    if all(v == values[1] for v in values[1:]):
        return Expr(f"{literal_text(values[0])} if i == 0 else {literal_text(values[1])}", None)
    return Expr("[" + ", ".join(literal_text(v) for v in values) + "][i]", None)


def _repeat(run: list[Item], block: BlockDef) -> Item:
    names: list[str] = []
    for it in run:
        names += [k for k in it.all_args if k not in names]
    args = {}
    for name in names:
        value = _by_index([it.all_args.get(name, block.args.get(name)) for it in run])
        if isinstance(value, Expr) or value != block.args.get(name):
            args[name] = value
    split = split_index(run[0].name)
    assert split is not None
    nodes = frozenset().union(*(it.nodes for it in run))
    return Item("repeat", split[0], run[0].key, args, run[0].slots, run[-1].output,
                run[0].index, times=len(run), start=split[1], nodes=nodes)


def compress(items: list[Item], blocks: dict[str, BlockDef], alike: bool = False) -> list[Item]:
    """``items`` with every run of consecutive calls made a repeat; with ``alike`` (a block's
    own body), only runs whose calls all pass the same arguments."""
    out: list[Item] = []
    k = 0
    while k < len(items):
        run = [items[k]]
        if items[k].kind == "call" and items[k].when is None and split_index(items[k].name):
            while k + len(run) < len(items) and _follows(items[k + len(run)], run[-1], run):
                run.append(items[k + len(run)])
        same = all(it.all_args == run[0].all_args for it in run)
        if (len(run) >= 3 and not alike) or (len(run) >= 2 and same):
            out.append(_repeat(run, blocks[run[0].key]))
            k += len(run)
        else:
            out.append(items[k])
            k += 1
    return out
