"""The error contract: bad specs, each with the problem it must produce (kind, layer, line, col).

Shared by the API-level table test and the CLI test (exit code, no traceback).
Every spec starts with the same three lines, so a layer item is on line 4 onwards.
"""

from __future__ import annotations

HEAD = "name: t\ninput: {channels: 3, height: 32, width: 32}\nlayers:\n"
PARAMS_HEAD = ("name: t\nparams: {width: 16}\ninput: {channels: 3, height: 32, width: 32}\n"
               "layers:\n")


def spec(body: str, head: str = HEAD) -> str:
    return head + body


BLOCK = """\
blocks:
  unit:
    args: [planes]
    layers:
      - conv2d: {name: conv, out: planes, kernel: 3, padding: 1}
"""

# (id, files {name: text}, variant, overrides, kind, layer (substring or None), line, column,
#  message substring, hint substring or None)
CASES = [
    ("yaml-syntax", {"s.yaml": "name: x\ninput: {channels: 3\nlayers: []\n"}, None, None,
     "yaml", None, 3, 7, "flow mapping", None),
    ("yaml-duplicate-key", {"s.yaml": "name: a\nname: b\n" + HEAD[8:] + "  - relu\n"}, None, None,
     "yaml", None, 2, 1, "duplicate key 'name'", None),
    ("yaml-python-tag", {"s.yaml": spec("  - relu: !!python/object/apply:os.system ['ls']\n")},
     None, None, "yaml", None, 4, 11, "unsupported tag", None),
    ("unknown-top-key", {"s.yaml": spec("  - relu\nvariant: {}\n")}, None, None,
     "schema", None, 5, 1, "unknown key 'variant'", "variants"),
    ("unknown-attr", {"s.yaml": spec("  - conv2d: {out: 16, kernal: 3}\n")}, None, None,
     "schema", "layers[0].conv2d", 4, 23, "unknown key 'kernal'", "kernel"),
    ("unknown-op", {"s.yaml": spec("  - conv2: {out: 16}\n")}, None, None,
     "unknown-op", "layers[0]", 4, 5, "'conv2' is neither an operator nor a block", "conv2d"),
    ("expression-syntax", {"s.yaml": spec('  - conv2d: {out: "16 *", kernel: 3}\n')}, None,
     None, "expression", "layers[0].conv2d.out", 4, 19, "invalid expression '16 *'", None),
    ("expression-unknown-name", {"s.yaml": spec('  - conv2d: {out: "widht * 2", kernel: 3}\n',
                                                PARAMS_HEAD)}, None, None,
     "expression", None, 5, 19, "unknown name 'widht'; did you mean 'width'", None),
    ("expression-float-for-int", {"s.yaml": spec('  - conv2d: {out: "32 / 2", kernel: 3}\n')},
     None, None, "expression", None, 4, 19, "must be an integer, got 16.0 (use // or int()", None),
    ("expression-when-not-bool", {"s.yaml": spec('  - relu: {when: "1 + 1"}\n')}, None, None,
     "expression", None, 4, 18, "must be true or false, got 2", None),
    ("missing-attr", {"s.yaml": spec("  - conv2d: {kernel: 3}\n")}, None, None,
     "schema", "conv2d", 4, 13, "conv2d needs 'out'", None),
    ("unknown-variant", {"s.yaml": spec("  - relu\nvariants: {small: {}}\n")}, "smal", None,
     "unknown-variant", None, 5, 1, "unknown variant 'smal'", "small"),
    ("unknown-override", {"s.yaml": spec("  - relu\n", PARAMS_HEAD)}, None, {"widht": 3},
     "unknown-param", None, 2, 1, "'widht' is not a parameter", "width"),
    ("variant-undeclared-param", {"s.yaml": spec("  - relu\nvariants: {v: {depht: 3}}\n",
                                                 PARAMS_HEAD)}, None, None,
     "unknown-param", None, 6, 16, "sets 'depht'", "declare it under params"),
    ("reference-unknown", {"s.yaml": spec("  - conv2d: {name: c1, out: 8, kernel: 1}\n"
                                          "  - add: {inputs: [c1, c2]}\n")}, None, None,
     "reference", None, 5, 24, "no layer or input named 'c2'", "names here: input, c1"),
    ("reference-forward", {"s.yaml": spec("  - add: {inputs: [input, later]}\n"
                                          "  - relu: {name: later}\n")}, None, None,
     "reference", None, 4, 27, "'later' before this point", None),
    ("shape-add-mismatch", {"s.yaml": spec("  - conv2d: {name: c1, out: 16, kernel: 3, "
                                           "padding: same}\n  - add: {inputs: [input, c1]}\n")},
     None, None, "shape", "add", 5, 10, "add needs inputs of one shape, got (3, 32, 32), (16, 32, 32)", None),
    ("shape-concat-spatial", {"s.yaml": spec("  - max_pool2d: {name: p, kernel: 2}\n"
                                             "  - concat: {inputs: [input, p]}\n")},
     None, None, "shape", "concat", 5, 13, "(3, 32, 32), (3, 16, 16)", None),
    ("groups-not-dividing", {"s.yaml": spec("  - conv2d: {out: 8, kernel: 3, groups: 2}\n")},
     None, None, "argument", "conv2d", 4, 13, "groups=2 must divide both the input channels (3)", None),
    ("split-not-dividing-the-channels",
     {"s.yaml": spec("  - split: {sizes: [1, 1], index: 0}\n")}, None, None, "argument",
     "split", 4, 12, "split sizes [1, 1] add up to 2, but axis 0 has 3", None),
    ("upsample-non-positive-size", {"s.yaml": spec("  - upsample: {size: [0, 64]}\n")}, None,
     None, "argument", "upsample", 4, 15, "size must be positive, got [0, 64]", None),
    ("output-padding-not-smaller-than-stride",
     {"s.yaml": spec("  - conv_transpose2d: {out: 8, kernel: 2, stride: 2, "
                     "output_padding: 2}\n")}, None, None, "argument", "conv_transpose2d", 4,
     23, "output_padding 2 (height) must be smaller than the stride (2)", None),
    ("spatial-not-positive", {"s.yaml": spec("  - max_pool2d: {kernel: 64}\n")}, None, None,
     "shape", "max_pool2d", 4, 17, "output 0x0 is not positive", None),
    ("linear-needs-vector", {"s.yaml": spec("  - linear: {out: 10}\n")}, None, None,
     "shape", "linear", 4, 13, "flatten first", None),
    ("unknown-activation", {"s.yaml": spec("  - conv2d: {out: 8, kernel: 1, act: rellu}\n")},
     None, None, "argument", "conv2d", 4, 38, "unknown activation 'rellu'", "relu"),
    ("bad-choice", {"s.yaml": spec("  - gelu: {approximate: fast}\n")}, None, None,
     "argument", "gelu", 4, 25, "expected one of none, tanh, got 'fast'", None),
    ("duplicate-name", {"s.yaml": spec("  - relu: {name: a}\n  - relu: {name: a}\n")}, None,
     None, "duplicate-name", "a", 5, 18, "'a' is already used", None),
    ("block-unknown-arg", {"s.yaml": BLOCK + spec("  - unit: {planes: 8, planez: 3}\n")}, None,
     None, "schema", "unit", 9, 23, "block unit has no argument 'planez'", "planes"),
    ("block-missing-arg", {"s.yaml": BLOCK + spec("  - unit: {name: u1}\n")}, None, None,
     "schema", "u1", 9, 11, "block unit needs argument 'planes'", None),
    ("error-inside-block", {"s.yaml": BLOCK + spec("  - unit: {name: u1, planes: \"0 - 8\"}\n")},
     None, None, "argument", "u1.conv", 5, 17, "out must be positive, got -8", None),
    ("block-shadows-op", {"s.yaml": "blocks:\n  relu:\n    layers: [identity]\n"
                          + spec("  - identity\n")}, None, None,
     "duplicate-name", None, 2, 3, "shadows an operator", None),
    ("repeat-two-bodies", {"s.yaml": BLOCK + spec("  - repeat: {times: 2, block: unit, "
                                                  "layers: [relu]}\n")}, None, None,
     "schema", "layers[0].repeat", 9, 13, "exactly one of 'layers' or 'block'", None),
    ("import-missing", {"s.yaml": "imports: [nowhere.yaml]\n" + spec("  - relu\n")}, None,
     None, "file", None, 1, 11, "'nowhere.yaml' not found", None),
    ("import-invalid", {"s.yaml": "imports: [b.yaml]\n" + spec("  - relu\n"),
                        "b.yaml": "blocks:\n  u:\n    layers: [relu]\n    outputz: relu\n"},
     None, None, "schema", None, 4, 5, "unknown key 'outputz'", "output"),
]
