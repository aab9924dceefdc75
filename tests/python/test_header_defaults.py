"""The defaults table in include/adaopt.h (the manual) says what adaopt_default returns: every
algorithm, every option it has, none missing and none extra (issue 17: nobody gets weight decay
they did not read about)."""
import ctypes
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "..", "..", "include", "adaopt.h")
lib = ctypes.CDLL(os.environ["ADAOPT_LIBRARY"])
lib.adaopt_algorithm_from_name.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
lib.adaopt_option_from_name.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
lib.adaopt_option_name.restype = ctypes.c_char_p
lib.adaopt_default.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_double)]
EPS_MODES = {"outside": 0, "inside": 1, "hat": 2, "master": 0, "float32": 0}


def table():
    text = open(HEADER).read()
    block = text[text.index(" * Defaults ("):text.index(" * Linking")]
    rows, current = {}, None
    for line in block.splitlines():
        body = line.lstrip(" *").rstrip()
        m = re.match(r"(\w+)\s{2,}(.*)", body)
        if m and not line.startswith(" *            "):
            current = m.group(1).lower()
            rows[current] = []
            body = m.group(2)
        if current is not None and body:
            rows[current].append(body)
    parsed = {}
    for algo, parts in rows.items():
        items = " ".join(parts)
        items = re.sub(r"\([^)]*\)", "", items).replace("!", "")
        entries = {}
        for name, value in re.findall(r"([a-z_0-9]+) ([0-9.e,\-]+|outside|inside|hat|master|float32)", items):
            value = value.rstrip(",")
            if name == "betas":
                b1, b2 = value.split(",")
                entries["beta1"], entries["beta2"] = float(b1), float(b2)
            elif value in EPS_MODES:
                entries[name] = float(EPS_MODES[value])
            else:
                entries[name] = float(value)
        parsed[algo] = entries
    return parsed


def main():
    rows = table()
    common = rows.pop("every")
    classic = rows.pop("classic")  # SGD to RAdam, the torch.optim classes of torch 1.13
    # "eps_mode outside (RAdam: hat)": the exception is written in words
    checked = 0
    for algo, entries in rows.items():
        a = ctypes.c_int()
        assert lib.adaopt_algorithm_from_name(algo.encode(), ctypes.byref(a)) == 0, algo
        want = dict(common)
        if algo in ("sgd", "adagrad", "rmsprop", "adam", "adamw", "adamax", "nadam", "radam"):
            want.update(classic)
        want.update(entries)
        if algo == "radam":
            want["eps_mode"] = 2.0
        for o in range(1, 64):
            if lib.adaopt_option_name(o) is None:
                continue
            v = ctypes.c_double()
            has = lib.adaopt_default(a.value, o, ctypes.byref(v)) == 0
            name = lib.adaopt_option_name(o).decode()
            if not has:
                assert name not in entries, f"{algo}: the header lists {name}, which it has not"
                continue
            if name == "eps_mode" and algo in ("sgd", "adamax", "lion"):
                continue
            assert name in want, f"{algo}: the header does not list {name} (default {v.value})"
            assert want[name] == v.value, f"{algo}.{name}: header {want[name]}, library {v.value}"
            checked += 1
    assert len(rows) == 16 and checked >= 170, (sorted(rows), checked)
    print(f"header defaults: {checked} values of {len(rows)} algorithms agree with adaopt_default")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    sys.exit(main())
