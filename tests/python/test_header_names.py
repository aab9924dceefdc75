"""The names and constants a binding reads from libadaopt instead of copying them (issue 24):
adaopt_constant knows every enumerator that include/adaopt.h declares, with its value; the state,
option-value and algorithm-state listings agree with what the queries accept."""
import ctypes
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(HERE, "..", "..", "include", "adaopt.h")
lib = ctypes.CDLL(os.environ["ADAOPT_LIBRARY"])
c_int_p, c_double_p = ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_double)
lib.adaopt_constant.argtypes = [ctypes.c_char_p, c_int_p]
lib.adaopt_state_name.restype = ctypes.c_char_p
lib.adaopt_state_from_name.argtypes = [ctypes.c_char_p, c_int_p]
lib.adaopt_option_name.restype = ctypes.c_char_p
lib.adaopt_option_value_name.restype = ctypes.c_char_p
lib.adaopt_option_value_name.argtypes = [ctypes.c_int, ctypes.c_double]
lib.adaopt_option_value_from_name.argtypes = [ctypes.c_int, ctypes.c_char_p, c_double_p]
lib.adaopt_algorithm_name.restype = ctypes.c_char_p
for f in ("adaopt_algorithm_state", "adaopt_algorithm_scalar_state",
          "adaopt_algorithm_group_state"):
    getattr(lib, f).argtypes = [ctypes.c_int, ctypes.c_size_t]
lib.adaopt_create.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]
lib.adaopt_destroy.argtypes = [ctypes.c_void_p]
lib.adaopt_add_group.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t),
                                 ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
lib.adaopt_state.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                             ctypes.POINTER(ctypes.POINTER(ctypes.c_float)),
                             ctypes.POINTER(ctypes.c_size_t)]
lib.adaopt_state_scalar.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, c_double_p]
lib.adaopt_group_state.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, c_double_p]


def constant(name):
    v = ctypes.c_int()
    st = lib.adaopt_constant(name.encode(), ctypes.byref(v))
    return v.value if st == 0 else None


def enumerators():
    """(identifier, value) of every enumerator of every enum in the header, as written."""
    text = re.sub(r"/\*.*?\*/", "", open(HEADER).read(), flags=re.S)
    out = []
    for enum, body in re.findall(r"typedef enum (\w+)\s*\{(.*?)\}", text, flags=re.S):
        for name, value in re.findall(r"\b(ADAOPT_[A-Z0-9_]+)\s*=\s*(-?\d+)", body):
            out.append((name, int(value)))
            ENUM_OF[name] = enum
    return out


ENUM_OF = {}


def listing(fn, algo):
    out, k = [], 0
    while getattr(lib, fn)(algo, k):
        out.append(getattr(lib, fn)(algo, k))
        k += 1
    return out


def main():
    enums = enumerators()
    assert len(enums) >= 132, len(enums)
    for name, value in enums:
        assert constant(name) == value, (name, constant(name), value)
    assert constant("ADAOPT_OPTION_MAX") == max(v for n, v in enums
                                                if ENUM_OF[n] == "adaopt_option")
    for bad in ("ADAOPT_ERR_NOPE", "adaopt_err_state", "", "ADAOPT_ERR_STATE "):
        assert constant(bad) is None, bad
    assert lib.adaopt_constant(None, ctypes.byref(ctypes.c_int())) == constant("ADAOPT_ERR_NULL")

    # state names round-trip; nothing else is a state name
    kinds = [v for n, v in enums if ENUM_OF[n] == "adaopt_state_kind"]
    for k in kinds:
        name = lib.adaopt_state_name(k)
        got = ctypes.c_int()
        assert lib.adaopt_state_from_name(name, ctypes.byref(got)) == 0 and got.value == k, name
    assert lib.adaopt_state_from_name(b"exp_avg ", ctypes.byref(ctypes.c_int())) != 0
    got = ctypes.c_double()
    assert lib.adaopt_option_value_from_name(constant("ADAOPT_EPS_MODE"), b"HAT",
                                             ctypes.byref(got)) == 0 and got.value == 2

    # option value words round-trip and are the only words
    named = {}
    for o in range(1, constant("ADAOPT_OPTION_MAX") + 1):
        words, v = [], 0
        while lib.adaopt_option_value_name(o, v):
            words.append(lib.adaopt_option_value_name(o, v).decode())
            got = ctypes.c_double()
            assert lib.adaopt_option_value_from_name(o, words[-1].encode(), ctypes.byref(got)) == 0
            assert got.value == v
            v += 1
        assert lib.adaopt_option_value_name(o, 0.5) is None
        if words:
            named[lib.adaopt_option_name(o).decode()] = words
    assert named == {"eps_mode": ["outside", "inside", "hat"],
                     "param_update": ["master", "master_sr", "sr", "nearest"],
                     "state_storage": ["float32", "bf16", "8bit"],
                     "adjust_lr_fn": ["original", "match_rms_adamw", "spectral_unclamped"]}, named
    # the words name the header's constants, in order
    for option, enum in (("eps_mode", "adaopt_eps_mode"), ("param_update", "adaopt_param_update"),
                         ("state_storage", "adaopt_state_storage"),
                         ("adjust_lr_fn", "adaopt_adjust_lr")):
        values = [v for n, v in enums if ENUM_OF[n] == enum]
        assert values == list(range(len(named[option]))), (option, values)

    # each algorithm's listings are exactly the kinds its queries answer (a fresh optimizer:
    # ADAOPT_ERR_OPTION means "no such state for this algorithm", anything else that it has it)
    err_option = constant("ADAOPT_ERR_OPTION")
    master = constant("ADAOPT_STATE_MASTER")
    algos = [v for n, v in enums if ENUM_OF[n] == "adaopt_algorithm"]
    for a in algos:
        opt = ctypes.c_void_p()
        assert lib.adaopt_create(a, ctypes.byref(opt)) == 0
        numel, g = ctypes.c_size_t(8), ctypes.c_size_t()
        assert lib.adaopt_add_group(opt, ctypes.byref(numel), 1, ctypes.byref(g)) == 0
        arrays = listing("adaopt_algorithm_state", a)
        scalars = listing("adaopt_algorithm_scalar_state", a)
        groups = listing("adaopt_algorithm_group_state", a)
        for k in kinds:
            data, n, val = ctypes.POINTER(ctypes.c_float)(), ctypes.c_size_t(), ctypes.c_double()
            has_array = lib.adaopt_state(opt, 0, k, ctypes.byref(data), ctypes.byref(n)) != err_option
            has_scalar = lib.adaopt_state_scalar(opt, 0, k, ctypes.byref(val)) != err_option
            has_group = lib.adaopt_group_state(opt, 0, k, ctypes.byref(val)) != err_option
            name = lib.adaopt_algorithm_name(a).decode(), lib.adaopt_state_name(k).decode()
            if k != master:  # (master weights: any algorithm's, for bf16/fp16 groups)
                assert has_array == (k in arrays), name
            assert has_scalar == (k in scalars), name
            assert has_group == (k in groups), name
        assert len(set(arrays)) == len(arrays) and arrays, arrays
        lib.adaopt_destroy(opt)
    print("header_names: %d constants, %d algorithms' state listings agree with their queries"
          % (len(enums), len(algos)))


if __name__ == "__main__":
    main()
