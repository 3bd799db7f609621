"""GoogLeNet against Szegedy et al. (2014), Table 1, row by row (the paper flavor).

Table 1's "ops" column gives each row's multiply-adds in whole millions, rounded inconsistently
(3b: 304.27 M printed 304, 4b: 87.91 M printed 88), so each row must agree within that printed
precision of 1 M. Two rows cannot: conv1 is printed as 34 M, but a 7x7/2 conv from 3 to 64
channels on a 112x112 output is 1*64*3*7*7*112*112 = 118,013,952 MACs; and 5a is printed as
54 M where its six convolutions with the table's own channel numbers (256, 160->320, 32->128,
pool proj 128 on 7x7x832) give 51,079,168.
"""

from __future__ import annotations

import pytest

from cnncost import api

# Table 1, "ops" column (millions of multiply-adds)
TABLE_1_OPS_M = {
    ("conv2", "conv3"): 360,  # "convolution 3x3/1" row, with its 1x1 reduce (depth 2)
    ("inception_3a",): 128,
    ("inception_3b",): 304,
    ("inception_4a",): 73,
    ("inception_4b",): 88,
    ("inception_4c",): 100,
    ("inception_4d",): 119,
    ("inception_4e",): 170,
    ("inception_5b",): 71,
    ("fc",): 1,
}


@pytest.fixture(scope="module")
def paper():
    return api.analyze("specs/inception_v1.yaml", variant="paper", convention="torchvision")


@pytest.mark.parametrize(("rows", "ops_m"), TABLE_1_OPS_M.items(),
                         ids=["+".join(k) for k in TABLE_1_OPS_M])
def test_table_1_rows(paper, rows: tuple[str, ...], ops_m: int) -> None:
    macs = sum(paper.block(r).macs if r != "fc" else paper.layer(r).macs for r in rows)
    assert abs(macs - ops_m * 10**6) < 10**6, macs


def test_the_two_rows_table_1_misprints(paper) -> None:
    assert paper.block("conv1").macs == 1 * 64 * 3 * 7 * 7 * 112 * 112 == 118_013_952
    # 5a: 49*(832*256 + 832*160 + 160*9*320 + 832*32 + 32*25*128 + 832*128)
    assert paper.block("inception_5a").macs == 49 * (
        832 * 256 + 832 * 160 + 160 * 9 * 320 + 832 * 32 + 32 * 25 * 128 + 832 * 128)
    assert paper.block("inception_5a").macs == 51_079_168


def test_torchvision_flavor_differences() -> None:
    tv = api.build_graph("specs/inception_v1.yaml", variant="torchvision")[0]
    assert tv.node("inception_3a.branch_5x5.conv.conv").attrs["kernel"] == (3, 3)
    assert tv.node("pool4").attrs["kernel"] == (2, 2)
    assert not any(n.op == "lrn" for n in tv)
    assert all(not n.attrs["bias"] for n in tv if n.op == "conv2d")
