"""The shared spatial arithmetic: padding normalisation, output sizes, same pads, ceil mode,
adaptive windows."""

from __future__ import annotations

import pytest

from cnncost.errors import OpArgumentError, ShapeError
from cnncost.ops.spatial import (
    Window,
    adaptive_windows,
    axis_size,
    channels,
    feature_map,
    padding,
    same_pads,
)


@pytest.mark.parametrize("raw, normalised", [
    ("same", "same"),
    ("VALID", "valid"),
    (0, (0, 0, 0, 0)),
    (2, (2, 2, 2, 2)),
    ([1, 3], (1, 1, 3, 3)),  # [vertical, horizontal]
    ([0, 1, 2, 3], (0, 1, 2, 3)),  # [top, bottom, left, right]
    ([[0, 1], [2, 3]], (0, 1, 2, 3)),  # Keras ((top, bottom), (left, right))
    ((0, 1, 2, 3), (0, 1, 2, 3)),  # already normalised: idempotent
])
def test_padding_normalisation(raw, normalised) -> None:
    assert padding(raw) == normalised


@pytest.mark.parametrize("raw, message", [
    ("full", r"padding must be 'same', 'valid' or sizes"),
    (-1, r"padding must not be negative, got -1"),
    ([1, -2], r"padding must not be negative, got \[1, -2\]"),
    ([1, 2, 3], r"expected p, \[vertical, horizontal\]"),
    (1.5, r"expected p, \[vertical, horizontal\]"),
])
def test_padding_rejects(raw, message) -> None:
    with pytest.raises(OpArgumentError, match=message):
        padding(raw)


@pytest.mark.parametrize("args, expected", [
    # (i, k, s, d, lo, hi, ceil_mode)
    ((224, 7, 2, 1, 3, 3, False), 112),  # (224 + 6 - 7)//2 + 1
    ((32, 5, 1, 1, 0, 0, False), 28),
    ((32, 3, 1, 2, 0, 0, False), 28),  # ke = 5
    ((112, 3, 2, 1, 0, 0, False), 55),  # floor(109/2) + 1
    ((112, 3, 2, 1, 0, 0, True), 56),  # ceil(109/2) + 1; 55*2 = 110 < 112 kept
    ((5, 2, 3, 1, 1, 1, True), 2),  # ceil(5/3) + 1 = 3; 2*3 = 6 >= 5 + 1 -> dropped
    ((3, 2, 2, 1, 1, 1, True), 2),  # ceil(3/2) + 1 = 3; 2*2 = 4 >= 3 + 1 -> dropped
    ((6, 2, 2, 1, 1, 1, True), 4),  # ceil(6/2) + 1 = 4; 3*2 = 6 < 7 kept
    ((3, 4, 4, 1, 0, 0, True), 1),  # the one window runs past the input but starts inside
    ((3, 4, 4, 1, 0, 0, False), 0),  # floor: no window fits
])
def test_axis_size(args, expected) -> None:
    assert axis_size(*args) == expected


@pytest.mark.parametrize("i, k, s, d, pads", [
    (28, 5, 1, 1, (2, 2)),  # total 4, even: symmetric
    (28, 4, 1, 1, (1, 2)),  # total 3, odd: the extra pixel bottom / right
    (224, 3, 2, 1, (0, 1)),  # o = 112, total 111*2 + 3 - 224 = 1
    (225, 3, 2, 1, (1, 1)),  # o = 113, total 112*2 + 3 - 225 = 2
    (33, 3, 2, 2, (2, 2)),  # ke = 5, o = 17, total 16*2 + 5 - 33 = 4
    (7, 1, 2, 1, (0, 0)),  # o = 4, total max(6 + 1 - 7, 0) = 0
    (6, 1, 4, 1, (0, 0)),  # o = 2, total max(4 + 1 - 6, 0) = 0 (clamped, not -1)
])
def test_same_pads_tensorflow_rule(i, k, s, d, pads) -> None:
    assert same_pads(i, k, s, d) == pads
    o = axis_size(i, k, s, d, *pads)
    assert o == -(-i // s)  # same always gives ceil(i / s)


def test_window_same_pads_per_axis() -> None:
    window = Window.from_attrs({"kernel": [3, 4], "stride": [2, 1], "padding": "same"})
    assert window.pads((224, 28)) == (0, 1, 1, 2)
    assert window.output_hw((224, 28)) == (112, 28)


def test_window_stride_null_defaults_to_kernel() -> None:
    window = Window.from_attrs({"kernel": [2, 3], "stride": None})
    assert window.stride == (2, 3)
    assert window.dilation == (1, 1) and window.padding == (0, 0, 0, 0)
    assert window.output_hw((8, 9)) == (4, 3)


def test_ceil_mode_is_ignored_with_same() -> None:
    # i = 6, k = 1, s = 4: same gives ceil(6/4) = 2; a ceil of the clamped-pad formula would not
    window = Window.from_attrs({"kernel": 1, "stride": 4, "padding": "same"})
    assert window.output_hw((6, 6), ceil_mode=True) == (2, 2)


def test_window_rejects_non_positive_output() -> None:
    window = Window.from_attrs({"kernel": 3, "dilation": 3})
    with pytest.raises(ShapeError, match=r"output 0x0 is not positive: input 6x6, kernel 3x3 "
                                         r"dilated 3x3, stride 1x1, padding \(0, 0, 0, 0\)"):
        window.output_hw((6, 6))


@pytest.mark.parametrize("i, o, windows", [
    (8, 2, [(0, 4), (4, 8)]),
    (13, 6, [(0, 3), (2, 5), (4, 7), (6, 9), (8, 11), (10, 13)]),
    (5, 3, [(0, 2), (1, 4), (3, 5)]),
    (2, 3, [(0, 1), (0, 2), (1, 2)]),
    (7, 1, [(0, 7)]),
])
def test_adaptive_windows(i, o, windows) -> None:
    assert adaptive_windows(i, o) == windows


def test_rank_checks() -> None:
    assert feature_map((3, 4, 5), "op") == (3, 4, 5)
    assert channels((7,), "op") == 7
    with pytest.raises(ShapeError, match=r"op expects a \(C, H, W\) feature map, got shape"):
        feature_map((7,), "op")
    with pytest.raises(ShapeError, match=r"op expects a tensor with a channel axis, got shape"):
        channels((), "op")
