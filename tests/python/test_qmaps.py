"""The 8-bit maps shipped in src/precision.c are bitsandbytes' create_dynamic_map(signed=True)
and (signed=False), rebuilt here by bitsandbytes' published construction with torch's float32
linspace, and compared bit for bit (issue 13)."""
import os
import re
import struct
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "..", "src", "precision.c")


def create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    """bitsandbytes/functional.py's construction, step for step."""
    data = []
    non_sign_bits = total_bits - 1
    additional_items = 2 ** (non_sign_bits - max_exponent_bits) - 1
    for i in range(max_exponent_bits):
        fraction_items = int(2 ** (i + non_sign_bits - max_exponent_bits) + 1 if signed
                             else 2 ** (i + non_sign_bits - max_exponent_bits + 1) + 1)
        boundaries = torch.linspace(0.1, 1, fraction_items)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    if additional_items > 0:
        boundaries = torch.linspace(0.1, 1, additional_items + 1)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
        if signed:
            data += (-(10 ** (-(max_exponent_bits - 1) + i)) * means).tolist()
    data.append(0)
    data.append(1.0)
    assert len(data) == 2 ** total_bits
    data += [0] * (256 - len(data))
    data.sort()
    return torch.tensor(data, dtype=torch.float32)


def shipped(name):
    text = open(SOURCE).read()
    body = re.search(r"const float %s\[256\] = \{(.*?)\};" % name, text, re.S).group(1)
    values = [float.fromhex(v.strip().rstrip("f")) if "0x" in v else float(v.strip().rstrip("f"))
              for v in body.split(",") if v.strip()]
    assert len(values) == 256, (name, len(values))
    return values


def bits(v):
    return struct.unpack("<I", struct.pack("<f", v))[0]


def main():
    for name, signed in (("ADAOPT__QMAP_SIGNED", True), ("ADAOPT__QMAP_UNSIGNED", False)):
        built = create_dynamic_map(signed).tolist()
        ours = shipped(name)
        diff = [k for k in range(256) if bits(built[k]) != bits(ours[k])]
        assert not diff, f"{name}: codes {diff[:8]} differ (torch {torch.__version__})"
        print(f"{name}: 256 values bit-identical to torch {torch.__version__}'s construction")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    sys.exit(main())
