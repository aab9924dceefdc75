"""adaopt: adaptive gradient optimizers in C, driven from numpy.

A thin ctypes layer over libadaopt: no algorithm lives here.  The classes mirror torch.optim's
names, keyword arguments and defaults; parameters are float32 numpy arrays updated in place
(zero-copy), and ``step`` takes the matching list of gradient arrays::

    import numpy as np, adaopt
    w = np.zeros(10, np.float32)
    opt = adaopt.Adam([w], lr=1e-3, betas=(0.9, 0.999))
    opt.step([grad_of_w])            # a None gradient skips that parameter, as torch does
    opt.param_groups[0]["lr"] = 1e-4  # picked up by the next step
    opt.state[w]["exp_avg"]          # a copy of the state, keyed by the array or its index
    opt.effective_lr(w)              # per-coordinate effective learning rate

Rounding: the classic classes (SGD to RAdam) perform torch.optim's float32 operations, fused
and lerped as torch 2.x's CPU kernels do; ``torch=1`` repeats torch 1.13's instead (also per
group; docs/ALGORITHMS.md, "Rounding as torch does it").

Low precision: parameters may be float16 arrays or bf16 ones (numpy has no bf16: a uint16
array marked with ``adaopt.as_bf16``; ``to_bf16`` / ``from_bf16`` convert), all of one dtype per
group; gradients have the parameters' dtype, or float32 with the group key
``grad_dtype="float32"``.  The keywords ``param_update`` ('master', 'master_sr', 'sr',
'nearest'), ``state_storage`` ('float32', 'bf16', '8bit') and ``min_8bit_numel`` choose how
(adaopt.h, "Low precision")::

    w = adaopt.to_bf16(np.random.randn(4096).astype(np.float32))
    opt = adaopt.AdamW([w], lr=1e-3, param_update="sr", state_storage="8bit")
    opt.step([adaopt.to_bf16(grad)])      # bf16 in, bf16 out; state in 8 bits

The shared library is found through $ADAOPT_LIBRARY, next to this package, in the source tree's
build/ folder, or on the system library path, in that order.
"""

import ctypes
import ctypes.util
import math
import os

import numpy as np

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adadelta",
           "Rprop", "ASGD", "Muon", "Lion",
           "AdamWScheduleFree", "Lamb", "Adafactor",
           "Optimizer", "AdaoptError", "clip_grad_norm_", "clip_grad_value_", "library_path",
           "supported_isas", "bf16array", "as_bf16", "to_bf16", "from_bf16"]


def _find_library():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = []
    if os.environ.get("ADAOPT_LIBRARY"):
        candidates.append(os.environ["ADAOPT_LIBRARY"])
    candidates += [os.path.join(here, "libadaopt.so"),
                   os.path.join(here, "..", "..", "build", "libadaopt.so")]
    for path in candidates:
        if os.path.exists(path):
            return os.path.abspath(path)
    found = ctypes.util.find_library("adaopt")
    if found:
        return found
    raise ImportError("adaopt: cannot find libadaopt.so; build it (make) or set ADAOPT_LIBRARY")


library_path = _find_library()
_lib = ctypes.CDLL(library_path)

_c_size_p = ctypes.POINTER(ctypes.c_size_t)
_c_double_p = ctypes.POINTER(ctypes.c_double)
_c_float_p = ctypes.POINTER(ctypes.c_float)


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_status_name = _fn("adaopt_status_name", ctypes.c_char_p, ctypes.c_int)
_last_error = _fn("adaopt_last_error", ctypes.c_char_p, ctypes.c_void_p)
_algorithm_from_name = _fn("adaopt_algorithm_from_name", ctypes.c_int, ctypes.c_char_p,
                           ctypes.POINTER(ctypes.c_int))
_option_from_name = _fn("adaopt_option_from_name", ctypes.c_int, ctypes.c_char_p,
                        ctypes.POINTER(ctypes.c_int))
_check_option = _fn("adaopt_check_option", ctypes.c_int, ctypes.c_int, ctypes.c_int,
                    ctypes.c_double)
_default = _fn("adaopt_default", ctypes.c_int, ctypes.c_int, ctypes.c_int, _c_double_p)
_create = _fn("adaopt_create", ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p))
_destroy = _fn("adaopt_destroy", None, ctypes.c_void_p)
_add_group = _fn("adaopt_add_group", ctypes.c_int, ctypes.c_void_p, _c_size_p, ctypes.c_size_t,
                 _c_size_p)
_add_group_typed = _fn("adaopt_add_group_typed", ctypes.c_int, ctypes.c_void_p, _c_size_p,
                       ctypes.c_size_t, ctypes.c_int, ctypes.c_int, _c_size_p)
_step_typed = _fn("adaopt_step_typed", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                  ctypes.c_void_p, ctypes.c_size_t)
_state_bytes = _fn("adaopt_state_bytes", ctypes.c_size_t, ctypes.c_void_p)
_set_rounding_seed = _fn("adaopt_set_rounding_seed", ctypes.c_int, ctypes.c_void_p,
                         ctypes.c_uint64)
_set = _fn("adaopt_set", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
           ctypes.c_double)
_step = _fn("adaopt_step", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
            ctypes.c_size_t)
_state = _fn("adaopt_state", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
             ctypes.POINTER(_c_float_p), _c_size_p)
_state_scalar = _fn("adaopt_state_scalar", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                    ctypes.c_int, _c_double_p)
_effective_lr = _fn("adaopt_effective_lr", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                    ctypes.c_void_p, ctypes.c_size_t)
_get = _fn("adaopt_get", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, _c_double_p)
_set_isa = _fn("adaopt_set_isa", ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
_get_isa = _fn("adaopt_get_isa", ctypes.c_int, ctypes.c_void_p)
_isa_supported = _fn("adaopt_isa_supported", ctypes.c_int, ctypes.c_int)
_set_threads = _fn("adaopt_set_threads", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t)
_get_threads = _fn("adaopt_get_threads", ctypes.c_size_t, ctypes.c_void_p)
_set_overwrite = _fn("adaopt_set_overwrite_grads", ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
_get_overwrite = _fn("adaopt_get_overwrite_grads", ctypes.c_int, ctypes.c_void_p)


class _SparseGrad(ctypes.Structure):
    _fields_ = [("indices", ctypes.c_void_p), ("n_indices", ctypes.c_size_t),
                ("values", ctypes.c_void_p), ("row_len", ctypes.c_size_t)]


_reserve_sparse = _fn("adaopt_reserve_sparse", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                      ctypes.c_size_t, ctypes.c_size_t)
_step_sparse = _fn("adaopt_step_sparse", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                   ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_save_file = _fn("adaopt_save_file", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)
_load_file = _fn("adaopt_load_file", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)
_set_state = _fn("adaopt_set_state", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                 ctypes.c_void_p, ctypes.c_size_t)
_set_state_scalar = _fn("adaopt_set_state_scalar", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                        ctypes.c_int, ctypes.c_double)
_set_policy = _fn("adaopt_set_nonfinite_policy", ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
_get_policy = _fn("adaopt_get_nonfinite_policy", ctypes.c_int, ctypes.c_void_p)
_hint_nonfinite = _fn("adaopt_hint_nonfinite", ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
_steps_skipped = _fn("adaopt_steps_skipped", ctypes.c_uint64, ctypes.c_void_p)
_last_skipped = _fn("adaopt_last_step_skipped", ctypes.c_int, ctypes.c_void_p)
_clip_norm = _fn("adaopt_clip_grad_norm", ctypes.c_int, ctypes.c_void_p, _c_size_p,
                 ctypes.c_size_t, ctypes.c_double, ctypes.c_double, _c_double_p)
_train = _fn("adaopt_train", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_eval = _fn("adaopt_eval", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_is_training = _fn("adaopt_is_training", ctypes.c_int, ctypes.c_void_p)
_group_state = _fn("adaopt_group_state", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                   ctypes.c_int, _c_double_p)
_set_group_state = _fn("adaopt_set_group_state", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                       ctypes.c_int, ctypes.c_double)
_set_shape = _fn("adaopt_set_shape", ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, _c_size_p,
                 ctypes.c_size_t)
_clip_value = _fn("adaopt_clip_grad_value", ctypes.c_int, ctypes.c_void_p, _c_size_p,
                  ctypes.c_size_t, ctypes.c_double)

# The library's own tables, read from it (so that no front end copies them by hand).
_constant_fn = _fn("adaopt_constant", ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int))
_state_name = _fn("adaopt_state_name", ctypes.c_char_p, ctypes.c_int)
_algorithm_name = _fn("adaopt_algorithm_name", ctypes.c_char_p, ctypes.c_int)
_option_name = _fn("adaopt_option_name", ctypes.c_char_p, ctypes.c_int)
_isa_name = _fn("adaopt_isa_name", ctypes.c_char_p, ctypes.c_int)
_option_value_name = _fn("adaopt_option_value_name", ctypes.c_char_p, ctypes.c_int,
                         ctypes.c_double)
_never_negative = _fn("adaopt_state_never_negative", ctypes.c_int, ctypes.c_int)
_algorithm_states = [_fn(f, ctypes.c_int, ctypes.c_int, ctypes.c_size_t)
                     for f in ("adaopt_algorithm_state", "adaopt_algorithm_scalar_state",
                               "adaopt_algorithm_group_state")]


def _const(identifier):
    """The value of adaopt.h's constant `identifier` (e.g. "ADAOPT_ERR_STATE")."""
    out = ctypes.c_int()
    if _constant_fn(identifier.encode(), ctypes.byref(out)) != 0:
        raise ImportError("adaopt: the library has no constant %s (a mismatched libadaopt?)"
                          % identifier)
    return out.value


def _names(name_of, first=0):
    """{name: code} for codes first, first + 1, ... while name_of(code) names one."""
    out, code = {}, first
    while name_of(code):
        out[name_of(code).decode()] = code
        code += 1
    return out


def _kinds_of(algorithm, which):
    """The state kinds (torch's keys) an algorithm keeps: which 0 arrays, 1 per-tensor
    scalars, 2 per-group scalars (adaopt_algorithm_state, _scalar_state, _group_state)."""
    out, k = [], 0
    while _algorithm_states[which](algorithm, k):
        out.append(_state_name(_algorithm_states[which](algorithm, k)).decode())
        k += 1
    return out


# adaopt_state_kind by torch's state key; per algorithm, its arrays' keys.
_STATE_KINDS = _names(_state_name, first=_const("ADAOPT_STATE_STEP"))
_MASTER = _STATE_KINDS["master"]
_ALGORITHMS = _names(_algorithm_name, first=1)
_STATE_KEYS = {name: _kinds_of(code, 0) for name, code in _ALGORITHMS.items()}
# Per-group scalars (Schedule-Free's, as schedulefree's param_groups keys; LAMB's k).
_GROUP_KINDS = {key: _STATE_KINDS[key] for key in _kinds_of(_ALGORITHMS["adamw_schedulefree"], 2)}
# Per-tensor scalars besides step and NAdam's mu_product (adaopt_state_scalar), as the
# reference's keys: LAMB's norms of the last step, ASGD's eta and mu.
_TENSOR_SCALARS = {name: {key: _STATE_KINDS[key] for key in _kinds_of(code, 1)
                          if key not in ("step", "mu_product")}
                   for name, code in _ALGORITHMS.items()}
# torch keywords that hold two (or three) options.
_PAIRS = {"betas": ("beta1", "beta2"), "etas": ("eta_minus", "eta_plus"),
          "step_sizes": ("step_size_min", "step_size_max"),
          "ns_coefficients": ("ns_a", "ns_b", "ns_c")}
_OPTIONS = _names(_option_name, first=1)
_WORDS = {name: _names(lambda v, o=code: _option_value_name(o, v))
          for name, code in _OPTIONS.items() if _option_value_name(code, 0)}
_EPS_MODES = _WORDS.pop("eps_mode")


def _word_of(option, value):
    """The word of a named option value (eps_mode "outside", state_storage "8bit", ...)."""
    return _option_value_name(_OPTIONS[option], value).decode()


_POLICIES = {word: _const("ADAOPT_NONFINITE_" + word.upper())
             for word in ("propagate", "skip", "error")}
_NO_ROWS = np.zeros(1, np.int64)  # a valid pointer for a sparse gradient of no rows
_ISAS = _names(_isa_name)


def supported_isas():
    """The kernel ISAs this build and CPU can run (besides "auto")."""
    return [name for name, code in _ISAS.items() if code and _isa_supported(code)]


_ERR_STATE, _ERR_OPTION = _const("ADAOPT_ERR_STATE"), _const("ADAOPT_ERR_OPTION")


class AdaoptError(ValueError):
    """An error reported by libadaopt; ``status`` is the adaopt_status code."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# What adaopt's checkpoint loader checks of a tensor's state (docs/CHECKPOINT.md), for the
# state dicts that the front ends load: all of a state dict is checked before any of it is
# applied.
_SECOND_MOMENTS = {key for key, kind in _STATE_KINDS.items() if _never_negative(kind)}
_MAX_STEPS = 2 ** 53


def _check_state_scalar(i, key, value):
    """step: a whole number in [0, 2^53]; mu_product in [0, 1]; LAMB's norms not negative."""
    if key == "step":
        ok = math.isfinite(value) and 0 <= value <= _MAX_STEPS and value == math.floor(value)
        want = "a whole number in [0, 2^53]"
    elif key == "mu_product":
        ok, want = 0 <= value <= 1, "in [0, 1]"
    else:
        ok, want = not value < 0, "not negative"  # (NaN kept: a tensor that went NaN says so)
    if not ok:
        raise ValueError("parameter %d: state %r = %r must be %s" % (i, key, value, want))


def _check_state_array(i, key, a):
    """Finite (a diverged state is not loaded), and second moments not negative."""
    if not np.isfinite(a).all():
        raise ValueError("parameter %d: state %r holds NaN or infinite values (a diverged "
                         "state is not loaded)" % (i, key))
    if key in _SECOND_MOMENTS and (a < 0).any():
        raise ValueError("parameter %d: state %r is negative somewhere; a second moment never "
                         "is" % (i, key))


def _c_path(path):
    """A path for the C library: bytes without NUL (C would stop at it, and write another
    file)."""
    b = os.fsencode(path)
    if b"\0" in b:
        raise ValueError("path %r contains a NUL byte" % (path,))
    return b


def _check_threads(n, low=0):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not low <= n <= 4096:
        raise ValueError("threads must be an integer in [%d, 4096], got %r" % (low, n))


def _check(status, handle=None, what=""):
    if status != 0:
        detail = _last_error(handle).decode() if handle else ""
        name = _status_name(status).decode()
        raise AdaoptError(status, "%s%s%s" % (what + ": " if what else "", detail or name,
                                              "" if not detail else " (%s)" % name))


def _option_id(name):
    out = ctypes.c_int()
    if _option_from_name(name.encode(), ctypes.byref(out)) != 0:
        raise TypeError("unknown option %r" % name)
    return out.value


class bf16array(np.ndarray):
    """A uint16 numpy array whose elements are bfloat16 values (the top 16 bits of a float32):
    numpy has no bf16 dtype, so ``adaopt.as_bf16(a)`` marks a uint16 array as one.  Parameters
    and gradients may be float32, float16 or bf16 (see the module docstring)."""


def as_bf16(a):
    """The uint16 array `a` (no copy), marked as holding bf16 values."""
    if not isinstance(a, np.ndarray) or a.dtype != np.uint16:
        raise TypeError("as_bf16 takes a uint16 numpy array, got %r" % (getattr(a, "dtype", a),))
    return a.view(bf16array)


def to_bf16(x):
    """float32 values rounded to the nearest bf16 (ties to even), as a bf16array."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    r[nan] = ((b[nan] >> 16) | 0x40).astype(np.uint16)
    return r.view(bf16array)


def from_bf16(a):
    """The float32 values of a bf16array (exact)."""
    return (np.asarray(a, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


_DTYPE_F32, _DTYPE_BF16, _DTYPE_F16 = (_const("ADAOPT_DTYPE_" + t) for t in ("F32", "BF16", "F16"))
_DTYPE_NAMES = {_DTYPE_F32: "float32", _DTYPE_BF16: "bf16", _DTYPE_F16: "float16"}


def _dtype_code(a):
    if isinstance(a, bf16array):
        return _DTYPE_BF16
    if a.dtype == np.float32:
        return _DTYPE_F32
    if a.dtype == np.float16:
        return _DTYPE_F16
    return None


def _as_param(a, what, allow_low=True):
    if not isinstance(a, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, got %s" % (what, type(a).__name__))
    code = _dtype_code(a)
    if code is None or (code != _DTYPE_F32 and not allow_low):
        raise TypeError("%s must be float32%s, got %s" % (
            what, ", float16 or bf16 (adaopt.as_bf16)" if allow_low else "", a.dtype))
    if not a.flags.c_contiguous:
        raise TypeError("%s must be C-contiguous" % what)
    return a


def _pointer_array(arrays):
    return (ctypes.c_void_p * len(arrays))(
        *[None if a is None else a.ctypes.data for a in arrays])


class _State:
    """opt.state[param] or opt.state[index]: a dict of copies, shaped like the parameter."""

    def __init__(self, opt):
        self._opt = opt

    def __getitem__(self, key):
        return self._opt._state_of(self._opt._index_of(key))

    def __len__(self):
        return len(self._opt._params)


class Optimizer:
    """Base class: one libadaopt optimizer over param groups (see the module docstring)."""

    _algorithm = None  # torch's lower-case name
    _positional = ()   # the keyword order of torch.optim's signature, after params

    def __init__(self, params, *args, **kwargs):
        if len(args) > len(self._positional):
            raise TypeError("%s takes at most %d positional hyperparameters"
                            % (type(self).__name__, len(self._positional)))
        for name, value in zip(self._positional, args):
            if name in kwargs:
                raise TypeError("%s got multiple values for %r" % (type(self).__name__, name))
            kwargs[name] = value
        algo = ctypes.c_int()
        _check(_algorithm_from_name(self._algorithm.encode(), ctypes.byref(algo)))
        self._algo = algo.value
        self.defaults = self._default_hyperparameters()
        self._default_grad_dtype = kwargs.pop("grad_dtype", None)
        for key, value in kwargs.items():
            if key not in self.defaults:
                raise TypeError("%s got an unexpected keyword argument %r"
                                % (type(self).__name__, key))
            self.defaults[key] = value

        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        handle = ctypes.c_void_p()
        _check(_create(self._algo, ctypes.byref(handle)))
        self._handle = handle
        self._params = []
        self.param_groups = []
        self._synced = []
        try:
            for group in params:
                self.add_param_group(group)
        except Exception:
            self._close()
            raise
        self.state = _State(self)

    # -- construction ---------------------------------------------------------------------
    def _set_shapes(self, first):
        """Gives the library the shapes of parameters first, ... of two or more dimensions
        (Adafactor factors them; Muon's matrices)."""
        for i in range(first, len(self._params)):
            shape = self._params[i].shape
            if len(shape) >= 2:
                dims = (ctypes.c_size_t * len(shape))(*shape)
                _check(_set_shape(self._handle, i, dims, len(shape)), self._handle,
                       "add_param_group")

    def _default_hyperparameters(self):
        out = {}
        for name in _OPTIONS:
            value = ctypes.c_double()
            if _default(self._algo, _option_id(name), ctypes.byref(value)) != 0:
                continue
            v = value.value
            if name in ("nesterov", "maximize", "amsgrad", "centered",
                        "decoupled_weight_decay", "weight_decouple", "fixed_decay",
                        "grad_averaging", "adam"):
                v = bool(v)
            elif name == "eps_mode" or name in _WORDS:
                v = _word_of(name, v)
            elif name in ("min_8bit_numel", "warmup_steps", "torch", "ns_steps"):
                v = int(v)
            out[name] = v
        for key, names in _PAIRS.items():
            if names[0] in out:
                out[key] = tuple(out.pop(name) for name in names)
        return out

    def add_param_group(self, group):
        """Adds a group: a dict with 'params' and any hyperparameters (others: defaults)."""
        group = dict(group)
        arrays = group.pop("params")
        grad_dtype = group.pop("grad_dtype", getattr(self, "_default_grad_dtype", None))
        if isinstance(arrays, np.ndarray):
            arrays = [arrays]
        arrays = [_as_param(a, "parameter") for a in arrays]
        codes = {_dtype_code(a) for a in arrays}
        if len(codes) != 1:
            raise TypeError("the parameters of one group must share a dtype (float32, float16 or "
                            "bf16), got %s" % sorted(_DTYPE_NAMES[c] for c in codes))
        param_dtype = codes.pop()
        if grad_dtype is None:
            grad_code = param_dtype
        elif grad_dtype in ("float32", np.float32):
            grad_code = _DTYPE_F32
        else:
            raise TypeError("grad_dtype must be None (the parameters' dtype) or 'float32', got %r"
                            % (grad_dtype,))
        seen = list(self._params)
        for a in arrays:
            if not a.flags.writeable:
                raise TypeError("parameter arrays must be writeable")
            if any(np.shares_memory(a, b) for b in seen):
                raise ValueError("a parameter appears twice, or overlaps another parameter: "
                                 "each would be updated twice per step")
            seen.append(a)
        for key in group:
            if key not in self.defaults:
                raise TypeError("unknown hyperparameter %r for %s" % (key, type(self).__name__))
        full = dict(self.defaults)
        full.update(group)
        for name, value in self._c_options(full):  # validate all before creating anything
            st = _check_option(self._algo, _option_id(name), value)
            if st != 0:
                raise AdaoptError(st, "invalid %s=%r for %s (%s)" % (
                    name, value, type(self).__name__, _status_name(st).decode()))
        numels = (ctypes.c_size_t * len(arrays))(*[a.size for a in arrays])
        index = ctypes.c_size_t()
        _check(_add_group_typed(self._handle, numels, len(arrays), param_dtype, grad_code,
                                ctypes.byref(index)), self._handle, "add_param_group")
        self._grad_dtypes = getattr(self, "_grad_dtypes", []) + [grad_code] * len(arrays)
        self._typed = getattr(self, "_typed", False) or param_dtype != _DTYPE_F32 or \
            grad_code != _DTYPE_F32
        full["params"] = arrays
        self.param_groups.append(full)
        self._synced.append({})
        self._params.extend(arrays)
        self._param_specs = getattr(self, "_param_specs", []) + [(a.size, param_dtype)
                                                                 for a in arrays]
        self._sync(len(self.param_groups) - 1)

    def _close(self):
        if getattr(self, "_handle", None):
            _destroy(self._handle)
            self._handle = None

    def __del__(self):
        self._close()

    # -- hyperparameters ------------------------------------------------------------------
    @staticmethod
    def _c_pairs(key, value):
        """The (C option name, double) pairs of one torch-style hyperparameter."""
        if key in _PAIRS:
            try:
                values = tuple(value)
            except TypeError:
                values = ()
            if len(values) != len(_PAIRS[key]):
                raise TypeError("%s must be a tuple of %d numbers, got %r"
                                % (key, len(_PAIRS[key]), value))
            pairs = list(zip(_PAIRS[key], values))
        elif key == "adjust_lr_fn" and value is None:  # (torch's None: the original)
            pairs = [(key, _WORDS[key]["original"])]
        elif key == "eps_mode":
            if value not in _EPS_MODES:
                raise ValueError("eps_mode must be one of %s, got %r" % (sorted(_EPS_MODES), value))
            pairs = [(key, _EPS_MODES[value])]
        elif key in _WORDS:
            if value not in _WORDS[key]:
                raise ValueError("%s must be one of %s, got %r" % (key, sorted(_WORDS[key]), value))
            pairs = [(key, _WORDS[key][value])]
        else:
            pairs = [(key, value)]
        out = []
        for name, v in pairs:
            if isinstance(v, (str, bytes)) or v is None:
                raise TypeError("hyperparameter %r must be a number, got %r" % (name, v))
            try:
                out.append((name, float(v)))
            except (TypeError, ValueError):
                raise TypeError("hyperparameter %r must be a number, got %r" % (name, v))
        return out

    def _c_options(self, group):
        return [pair for key, value in group.items() if key != "params"
                for pair in self._c_pairs(key, value)]

    def _sync(self, g):
        """Pushes the changed hyperparameters of param_groups[g] to the C object."""
        group, synced = self.param_groups[g], self._synced[g]
        for key, value in group.items():
            if key == "params" or synced.get(key) == value:
                continue
            if key not in self.defaults:
                raise TypeError("unknown hyperparameter %r in param_groups[%d]" % (key, g))
            for name, v in self._c_pairs(key, value):
                _check(_set(self._handle, g, _option_id(name), v), self._handle,
                       "param_groups[%d][%r]" % (g, key))
            synced[key] = value

    # -- the step ---------------------------------------------------------------------------
    def _param_pointers(self):
        """The parameters' addresses as they are now, each checked to be what the optimizer was
        given: its size and dtype, C-contiguous and writeable.  (An array resized with
        refcheck=False, given another buffer or made read-only since would otherwise have the
        step write freed or read-only memory.)  An array whose buffer moved is followed."""
        for i, (p, (size, code)) in enumerate(zip(self._params, self._param_specs)):
            if p.size != size or _dtype_code(p) != code or not p.flags.c_contiguous:
                raise ValueError("parameter %d changed since it was given to the optimizer: %d "
                                 "elements of %s%s, was %d of %s" % (
                                     i, p.size, _DTYPE_NAMES.get(_dtype_code(p), p.dtype),
                                     "" if p.flags.c_contiguous else " (not contiguous)", size,
                                     _DTYPE_NAMES[code]))
            if not p.flags.writeable:
                raise ValueError("parameter %d is read-only now: the step writes it" % i)
        return _pointer_array(self._params)

    def step(self, grads):
        """One step; grads[i] is the gradient of the i-th parameter (flattened group order):
        a float32 array of the parameter's size, None (skip it), or a row-sparse gradient
        ``(indices, values)``: int64 row numbers (unsorted, repeats summed) and a float32 array
        of shape (len(indices), row_len), the parameter being rows x row_len."""
        grads = list(grads)
        if len(grads) != len(self._params):
            raise ValueError("step: got %d gradients for %d parameters"
                             % (len(grads), len(self._params)))
        params = self._param_pointers()
        sparse = None
        dense = list(grads)
        overwrite = _get_overwrite(self._handle)
        for i, (g, p) in enumerate(zip(grads, self._params)):
            if g is None:
                continue
            if isinstance(g, tuple):
                if sparse is None:
                    sparse = (_SparseGrad * len(grads))()
                    keep = []
                sparse[i], arrays = self._sparse_grad(i, g, p)
                keep.append(arrays)
                dense[i] = None
                continue
            _as_param(g, "gradient %d" % i)
            if overwrite and not g.flags.writeable:
                raise ValueError("gradient %d is read-only, and overwrite_grads is on (the step "
                                 "stores u over the gradients)" % i)
            if _dtype_code(g) != self._grad_dtypes[i]:
                raise TypeError("gradient %d must be %s (its group's gradient dtype), got %s"
                                % (i, _DTYPE_NAMES[self._grad_dtypes[i]],
                                   _DTYPE_NAMES.get(_dtype_code(g), g.dtype)))
            if g.size != p.size:
                raise ValueError("gradient %d has %d elements, its parameter %d"
                                 % (i, g.size, p.size))
        for g in range(len(self.param_groups)):
            self._sync(g)
        if sparse is None:
            step = _step_typed if self._typed else _step
            _check(step(self._handle, params, _pointer_array(dense), len(dense)),
                   self._handle, "step")
            return
        need = [0, 0, 0]
        for s, p in zip(sparse, self._params):
            if s.row_len:
                need = [max(need[0], s.n_indices), max(need[1], s.row_len),
                        max(need[2], p.size // s.row_len)]
        _check(_reserve_sparse(self._handle, *need), self._handle, "step")
        _check(_step_sparse(self._handle, params, _pointer_array(dense),
                            ctypes.cast(sparse, ctypes.c_void_p), len(dense)), self._handle, "step")

    @staticmethod
    def _sparse_grad(i, g, p):
        if len(g) != 2:
            raise TypeError("sparse gradient %d must be (indices, values)" % i)
        indices, values = g
        if not isinstance(indices, np.ndarray) or indices.dtype != np.int64 or indices.ndim != 1:
            raise TypeError("sparse gradient %d: indices must be a 1-D int64 array" % i)
        indices = np.ascontiguousarray(indices)
        _as_param(values, "sparse gradient %d values" % i, allow_low=False)
        if values.ndim != 2 or values.shape[0] != indices.shape[0]:
            raise ValueError("sparse gradient %d: values must have shape (len(indices), row_len)"
                             % i)
        row_len = values.shape[1] if values.shape[1] else 0
        if row_len == 0 or p.size % row_len:
            raise ValueError("sparse gradient %d: row length %d does not divide the parameter's "
                             "%d elements" % (i, row_len, p.size))
        if not indices.size:  # a step that names no row is still a sparse step (t advances)
            indices = _NO_ROWS
        return _SparseGrad(indices.ctypes.data, values.shape[0], values.ctypes.data or None,
                           row_len), (indices, values)

    # -- inspection -----------------------------------------------------------------------
    def _index_of(self, key):
        if isinstance(key, (int, np.integer)):
            if not 0 <= key < len(self._params):
                raise IndexError("parameter index %d out of range" % key)
            return int(key)
        for i, p in enumerate(self._params):
            if p is key:
                return i
        raise KeyError("not a parameter of this optimizer")

    def _state_of(self, i):
        out = {}
        step = ctypes.c_double()
        _check(_state_scalar(self._handle, i, _STATE_KINDS["step"], ctypes.byref(step)),
               self._handle)
        if step.value == 0:
            return out
        out["step"] = step.value
        if self._algorithm == "nadam":
            mu = ctypes.c_double()
            _check(_state_scalar(self._handle, i, _STATE_KINDS["mu_product"], ctypes.byref(mu)),
                   self._handle)
            out["mu_product"] = mu.value
        v = ctypes.c_double()
        for key, kind in _TENSOR_SCALARS[self._algorithm].items():
            _check(_state_scalar(self._handle, i, kind, ctypes.byref(v)), self._handle)
            out[key] = v.value
        shape = self._params[i].shape
        for key in _STATE_KEYS[self._algorithm]:
            data, n = _c_float_p(), ctypes.c_size_t()
            st = _state(self._handle, i, _STATE_KINDS[key], ctypes.byref(data), ctypes.byref(n))
            if st == _ERR_STATE:
                continue
            _check(st, self._handle)
            flat = np.ctypeslib.as_array(data, (n.value,)).copy() if n.value \
                else np.zeros(0, np.float32)
            out[key] = flat.reshape(shape) if flat.size == self._params[i].size else flat
        return out

    # -- checkpoints (torch.optim's state_dict shape; adaopt's file format) -----------------
    def state_dict(self):
        """{'state': {index: {'step': .., 'exp_avg': array, ..}}, 'param_groups': [{..,
        'params': [indices]}]}, as torch.optim.Optimizer.state_dict (arrays are copies)."""
        state = {}
        for i in range(len(self._params)):
            s = self._state_of(i)
            if s:
                state[i] = s
        groups, first = [], 0
        for g in self.param_groups:
            d = {k: v for k, v in g.items() if k != "params"}
            d["params"] = list(range(first, first + len(g["params"])))
            first += len(g["params"])
            groups.append(d)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Loads a state_dict() of this class -- or of the same torch.optim class (tensors are
        read through numpy).  Everything is checked before anything changes."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has %d parameter groups, the optimizer %d"
                             % (len(groups), len(self.param_groups)))
        for g, (mine, theirs) in enumerate(zip(self.param_groups, groups)):
            if len(theirs["params"]) != len(mine["params"]):
                raise ValueError("group %d: %d parameters in the state dict, %d here"
                                 % (g, len(theirs["params"]), len(mine["params"])))
        order = [i for g in groups for i in g["params"]]  # state keys, in parameter order
        new_groups = []
        for g, theirs in enumerate(groups):
            d = {k: v for k, v in theirs.items() if k in self.defaults}
            full = dict(self.param_groups[g])
            full.update(d)
            for name, value in self._c_options({k: v for k, v in full.items() if k != "params"}):
                st = _check_option(self._algo, _option_id(name), value)
                if st != 0:
                    raise AdaoptError(st, "group %d: invalid %s=%r" % (g, name, value))
            new_groups.append(full)
        keys = _STATE_KEYS[self._algorithm]
        states = []
        for i, key in enumerate(order):
            s = state_dict["state"].get(key, {})
            entry = {}
            for k, v in s.items():
                if k in ("step", "mu_product") or k in _TENSOR_SCALARS[self._algorithm]:
                    try:
                        entry[k] = float(np.asarray(v))
                    except (TypeError, ValueError):
                        raise ValueError("parameter %d: state %r must be a number, got %r"
                                         % (i, k, v))
                    _check_state_scalar(i, k, entry[k])
                    continue
                if v is None:
                    continue
                if k not in keys:
                    raise ValueError("parameter %d: %s has no state %r" % (i, type(self).__name__, k))
                a = np.ascontiguousarray(np.asarray(v), dtype=np.float32).reshape(-1)
                if a.size != self._params[i].size and self._algorithm != "adafactor":
                    raise ValueError("parameter %d: state %r has %d elements, the parameter %d"
                                     % (i, k, a.size, self._params[i].size))
                _check_state_array(i, k, a)
                entry[k] = a
            if entry and "step" not in entry:
                if self._algorithm != "sgd":  # torch's SGD keeps no step: its buffer is all
                    raise ValueError("parameter %d: state without 'step'" % i)
                entry["step"] = 1.0
            states.append(entry)
        # Checked: apply.
        for g, full in enumerate(new_groups):
            self.param_groups[g].update({k: v for k, v in full.items() if k != "params"})
            self._sync(g)
        for i, entry in enumerate(states):
            for k in keys:  # absent arrays: fresh (zero), as a parameter never stepped
                a = entry.get(k, np.zeros(self._params[i].size, np.float32))
                st = _set_state(self._handle, i, _STATE_KINDS[k], a.ctypes.data, a.size)
                if st == _ERR_OPTION:
                    continue
                _check(st, self._handle, "load_state_dict")
            _check(_set_state_scalar(self._handle, i, _STATE_KINDS["step"], entry.get("step", 0.0)),
                   self._handle, "load_state_dict")
            if self._algorithm == "nadam":
                _check(_set_state_scalar(self._handle, i, _STATE_KINDS["mu_product"],
                                         entry.get("mu_product", 1.0)), self._handle,
                       "load_state_dict")
            for key, kind in _TENSOR_SCALARS[self._algorithm].items():
                if key in entry:
                    _check(_set_state_scalar(self._handle, i, kind, entry[key]), self._handle,
                           "load_state_dict")

    def save(self, path):
        """Writes the complete state to `path` (adaopt's checkpoint format, atomically)."""
        for g in range(len(self.param_groups)):
            self._sync(g)
        _check(_save_file(self._handle, _c_path(path)), self._handle, "save")

    def load(self, path):
        """Loads a checkpoint written by save() for an optimizer built the same way; a refused
        checkpoint changes nothing.  param_groups are updated from it."""
        _check(_load_file(self._handle, _c_path(path)), self._handle, "load")
        value = ctypes.c_double()
        for g, group in enumerate(self.param_groups):
            for key in list(group):
                if key == "params":
                    continue
                names = list(_PAIRS.get(key, [key]))
                got = []
                for name in names:
                    _check(_get(self._handle, g, _option_id(name), ctypes.byref(value)),
                           self._handle)
                    got.append(value.value)
                if key in _PAIRS:
                    group[key] = tuple(got)
                elif key == "eps_mode":
                    group[key] = _word_of("eps_mode", got[0])
                elif isinstance(self.defaults.get(key), bool):
                    group[key] = bool(got[0])
                else:
                    group[key] = got[0]
                self._synced[g][key] = group[key]

    # -- non-finite gradients (adaopt extension) ---------------------------------------------
    @property
    def nonfinite(self):
        """What a step does with a NaN or infinite gradient: "propagate" (torch's behaviour),
        "skip" (the whole step; counted in steps_skipped) or "error" (AdaoptError)."""
        code = _get_policy(self._handle)
        return [k for k, v in _POLICIES.items() if v == code][0]

    @nonfinite.setter
    def nonfinite(self, name):
        if name not in _POLICIES:
            raise ValueError("nonfinite must be one of %s" % sorted(_POLICIES))
        _check(_set_policy(self._handle, _POLICIES[name]), self._handle, "nonfinite")

    @property
    def state_bytes(self):
        """Bytes of optimizer state held now (every array in its storage, master weights)."""
        return int(_state_bytes(self._handle))

    def set_rounding_seed(self, seed):
        """The seed of stochastic rounding's noise (saved in checkpoints)."""
        _check(_set_rounding_seed(self._handle, int(seed)), self._handle)

    @property
    def steps_skipped(self):
        return int(_steps_skipped(self._handle))

    @property
    def last_step_skipped(self):
        return bool(_last_skipped(self._handle))

    def effective_lr(self, param):
        """Per-coordinate effective learning rate of the last step (ALGORITHMS.md)."""
        i = self._index_of(param)
        out = np.empty(self._params[i].shape, np.float32)
        _check(_effective_lr(self._handle, i, out.ctypes.data, out.size), self._handle,
               "effective_lr")
        return out

    # -- speed (adaopt extensions; results do not depend on either) ---------------------------
    @property
    def isa(self):
        """The kernels in use: "scalar", "avx2", "avx512" or "neon".  Assign to force one."""
        code = _get_isa(self._handle)
        return [k for k, v in _ISAS.items() if v == code][0]

    @isa.setter
    def isa(self, name):
        if name not in _ISAS:
            raise ValueError("isa must be one of %s" % sorted(_ISAS))
        _check(_set_isa(self._handle, _ISAS[name]), self._handle, "isa")

    @property
    def threads(self):
        """Threads per step (assign 0 for all cores, 1 for none)."""
        return _get_threads(self._handle)

    @threads.setter
    def threads(self, n):
        _check_threads(n)  # (a larger int would wrap in ctypes' size_t: 2**64 is 0)
        _check(_set_threads(self._handle, int(n)), self._handle, "threads")

    @property
    def overwrite_grads(self):
        """LAMB and Adafactor: True lets step() store each element's update direction u over
        its float32 gradient (as apex's FusedLAMB does), so that the last pass reads p and u
        instead of recomputing u -- less to read (LAMB) or compute (Adafactor), the same
        results.  The
        gradient arrays (float32 groups; never copied) hold u afterwards; read-only gradients,
        and gradients that overlap each other or a parameter, are refused."""
        return bool(_get_overwrite(self._handle))

    @overwrite_grads.setter
    def overwrite_grads(self, on):
        if not isinstance(on, (bool, np.bool_)):
            raise ValueError("overwrite_grads must be True or False")
        _check(_set_overwrite(self._handle, int(bool(on))), self._handle, "overwrite_grads")

    def __repr__(self):
        return "%s(%d groups, %d tensors)" % (type(self).__name__, len(self.param_groups),
                                             len(self._params))


def _make(name, algorithm, positional, doc):
    return type(name, (Optimizer,), {"_algorithm": algorithm, "_positional": positional,
                                     "__doc__": doc})


SGD = _make("SGD", "sgd", ("lr", "momentum", "dampening", "weight_decay", "nesterov"),
            "torch.optim.SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, "
            "nesterov=False, *, maximize=False)")
Adagrad = _make("Adagrad", "adagrad",
                ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"),
                "torch.optim.Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, "
                "initial_accumulator_value=0, eps=1e-10, maximize=False); eps_mode='outside'")
RMSprop = _make("RMSprop", "rmsprop",
                ("lr", "alpha", "eps", "weight_decay", "momentum", "centered"),
                "torch.optim.RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, "
                "momentum=0, centered=False, maximize=False); eps_mode='outside'")
Adam = _make("Adam", "adam", ("lr", "betas", "eps", "weight_decay", "amsgrad"),
             "torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, "
             "amsgrad=False, *, maximize=False); eps_mode='outside'")
AdamW = _make("AdamW", "adamw", ("lr", "betas", "eps", "weight_decay", "amsgrad"),
              "torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, "
              "weight_decay=1e-2, amsgrad=False, *, maximize=False); eps_mode='outside'")
Adamax = _make("Adamax", "adamax", ("lr", "betas", "eps", "weight_decay"),
               "torch.optim.Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, "
               "weight_decay=0, maximize=False)")
NAdam = _make("NAdam", "nadam", ("lr", "betas", "eps", "weight_decay", "momentum_decay"),
              "torch.optim.NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, "
              "momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False); "
              "eps_mode='outside'")
RAdam = _make("RAdam", "radam", ("lr", "betas", "eps", "weight_decay"),
              "torch.optim.RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, "
              "decoupled_weight_decay=False, maximize=False); eps_mode='hat' (torch's form)")

Adadelta = _make("Adadelta", "adadelta", ("lr", "rho", "eps", "weight_decay"),
                 "torch.optim.Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, "
                 "maximize=False)")
Rprop = _make("Rprop", "rprop", ("lr", "etas", "step_sizes"),
              "torch.optim.Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), "
              "maximize=False): a full-batch method")
ASGD = _make("ASGD", "asgd", ("lr", "lambd", "alpha", "t0", "weight_decay"),
             "torch.optim.ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, "
             "maximize=False): state 'ax' is the average of the iterates")



class Muon(Optimizer):
    """torch.optim.Muon(params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
    ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5, adjust_lr_fn=None): 2-D
    float32 arrays only (step the others with AdamW); the Newton-Schulz iteration in float32."""

    _algorithm = "muon"
    _positional = ("lr", "weight_decay", "momentum", "nesterov", "ns_coefficients", "eps",
                   "ns_steps", "adjust_lr_fn")

    def add_param_group(self, group):
        first = len(self._params)
        super().add_param_group(group)
        self._set_shapes(first)


Lion = _make("Lion", "lion", ("lr", "betas", "weight_decay"),
             "lion_pytorch.Lion(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0): the sign "
             "of b1 m + (1-b1) g, decoupled weight decay")


class Lamb(_make("Lamb", "lamb", ("lr", "betas", "weight_decay", "weight_decouple", "fixed_decay"),
                 "")):
    """pytorch_optimizer.Lamb(params, lr=1e-3, betas=(0.9, 0.999), weight_decay=0.0,
    weight_decouple=True, fixed_decay=False, grad_averaging=True, adam=False, eps=1e-6,
    maximize=False) and its class attribute clamp=10 as a keyword: Adam's direction times the
    per-tensor trust ratio min(||p||, clamp) / (||u|| + eps).  rectify, pre_norm and adanorm are
    not supported; state has weight_norm, adam_norm, trust_ratio as pytorch-optimizer's, and each
    group of a state_dict its 'step' (pytorch-optimizer's group count: the bias correction's t,
    which every step advances, gradients or not)."""

    def group_steps(self, g):
        value = ctypes.c_double()
        _check(_group_state(self._handle, g, _GROUP_KINDS["k"], ctypes.byref(value)),
               self._handle)
        return int(value.value)

    def state_dict(self):
        sd = super().state_dict()
        for g, d in enumerate(sd["param_groups"]):
            d["step"] = self.group_steps(g)
        return sd

    def load_state_dict(self, state_dict):
        """Also reads each group's 'step' (a state dict without it: its most-stepped entry's)."""
        groups, steps = [], []
        for g, theirs in enumerate(state_dict["param_groups"]):
            theirs = dict(theirs)
            k = theirs.pop("step", None)
            if k is None:
                k = max([float(state_dict["state"].get(key, {}).get("step", 0))
                         for key in theirs["params"]] or [0.0])
            try:
                k = float(k)
            except (TypeError, ValueError):
                raise TypeError("group %d: 'step' must be a number, got %r" % (g, k))
            if not (0 <= k <= 2 ** 53 and k == int(k)):
                raise ValueError("group %d: invalid step=%r" % (g, k))
            groups.append(theirs)
            steps.append(k)
        super().load_state_dict({"param_groups": groups, "state": state_dict["state"]})
        for g, k in enumerate(steps):
            _check(_set_group_state(self._handle, g, _GROUP_KINDS["k"], k), self._handle,
                   "load_state_dict")


_FLT_EPSILON = float(np.finfo(np.float32).eps)


class Adafactor(Optimizer):
    """torch.optim.Adafactor(params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
    weight_decay=0.0, maximize=False): a parameter array of two or more dimensions keeps its
    second moment factored over its last two (row_var, col_var: a 4096 x 4096 matrix keeps
    32 KiB, not 64 MiB); others keep variance.  eps[0] None is float32's machine epsilon."""

    _algorithm = "adafactor"
    _positional = ("lr", "beta2_decay", "eps", "d", "weight_decay")

    def _default_hyperparameters(self):
        out = super()._default_hyperparameters()
        out["eps"] = (None, out.pop("eps2"))
        out.pop("eps1")
        return out

    @staticmethod
    def _c_pairs(key, value):
        if key == "eps":
            try:
                e1, e2 = value
            except (TypeError, ValueError):
                raise TypeError("eps must be a pair (eps1 or None, eps2), got %r" % (value,))
            return Optimizer._c_pairs("eps1", _FLT_EPSILON if e1 is None else e1) + \
                Optimizer._c_pairs("eps2", e2)
        return Optimizer._c_pairs(key, value)

    def add_param_group(self, group):
        first = len(self._params)
        super().add_param_group(group)
        self._set_shapes(first)

    def _state_of(self, i):
        out = super()._state_of(i)
        shape = self._params[i].shape
        for key, keep in (("row_var", -1), ("col_var", -2)):  # torch's keepdim shapes
            if key in out:
                s = list(shape)
                s[keep] = 1
                out[key] = out[key].reshape(-1).reshape(s)
        return out


class AdamWScheduleFree(Optimizer):
    """schedulefree.AdamWScheduleFree(params, lr=0.0025, betas=(0.9, 0.999), eps=1e-8,
    weight_decay=0, warmup_steps=0, r=0.0, weight_lr_power=2.0): no lr schedule.  While training
    the parameters hold y; call eval() before evaluating or saving the model (they then hold the
    average x) and train() before the next step.  Unlike schedulefree's, a new optimizer is in
    train mode (there is nothing to swap before the first step); a step in eval mode raises.
    state_dict()'s param_groups carry schedulefree's 'k', 'weight_sum', 'lr_max', 'train_mode'
    and 'scheduled_lr', and load_state_dict() reads a schedulefree state_dict."""

    _algorithm = "adamw_schedulefree"
    _positional = ("lr", "betas", "eps", "weight_decay", "warmup_steps", "r", "weight_lr_power")

    def train(self):
        _check(_train(self._handle, self._param_pointers(), len(self._params)), self._handle,
               "train")

    def eval(self):
        _check(_eval(self._handle, self._param_pointers(), len(self._params)), self._handle,
               "eval")

    @property
    def training(self):
        return bool(_is_training(self._handle))

    def group_state(self, g):
        """{'k', 'weight_sum', 'lr_max', 'scheduled_lr', 'train_mode'} of param_groups[g]."""
        out, value = {}, ctypes.c_double()
        for key, kind in _GROUP_KINDS.items():
            _check(_group_state(self._handle, g, kind, ctypes.byref(value)), self._handle)
            out[key] = int(value.value) if key == "k" else \
                bool(value.value) if key == "train_mode" else value.value
        return out

    def state_dict(self):
        sd = super().state_dict()
        for g, d in enumerate(sd["param_groups"]):
            d.update(self.group_state(g))
        return sd

    def load_state_dict(self, state_dict):
        """Also reads the group scalars; entries without 'step' (schedulefree's) take the
        group's k.  The mode becomes the state dict's train_mode; the parameters are not moved
        (they come with the model, as in schedulefree)."""
        groups = state_dict["param_groups"]
        scalars = []
        for g, theirs in enumerate(groups):
            row = {}
            for key in ("k", "weight_sum", "lr_max", "train_mode"):
                if key not in theirs:
                    raise ValueError("group %d: a Schedule-Free state dict has %r" % (g, key))
                try:
                    row[key] = float(theirs[key])
                except (TypeError, ValueError):
                    raise TypeError("group %d: %r must be a number" % (g, key))
            ok = {"k": row["k"] >= 0 and row["k"] == int(row["k"]) and row["k"] <= 2 ** 53,
                  "weight_sum": 0 <= row["weight_sum"] < float("inf"),
                  "lr_max": -1 <= row["lr_max"] < float("inf"),
                  "train_mode": row["train_mode"] in (0.0, 1.0)}
            for key, good in ok.items():
                if not good:
                    raise ValueError("group %d: invalid %s=%r" % (g, key, theirs[key]))
            scalars.append(row)
        sd = {"param_groups": groups, "state": {}}
        k_of = {key: scalars[g]["k"] for g, grp in enumerate(groups) for key in grp["params"]}
        for key, entry in state_dict["state"].items():
            entry = dict(entry)
            if entry and "step" not in entry and key in k_of:
                entry["step"] = k_of[key]
            sd["state"][key] = entry
        super().load_state_dict(sd)
        for g, row in enumerate(scalars):
            for key, value in row.items():
                _check(_set_group_state(self._handle, g, _GROUP_KINDS[key], value), self._handle,
                       "load_state_dict")


def _grad_list(grads):
    grads = [g for g in grads if g is not None]
    for i, g in enumerate(grads):
        _as_param(g, "gradient %d" % i, allow_low=False)
        if not g.flags.writeable:
            raise TypeError("gradient arrays must be writeable")
    numels = (ctypes.c_size_t * len(grads))(*[g.size for g in grads])
    return grads, _pointer_array(grads), numels


def clip_grad_norm_(grads, max_norm, norm_type=2.0):
    """torch.nn.utils.clip_grad_norm_ on float32 arrays, in place; returns the total norm."""
    grads, ptrs, numels = _grad_list(grads)
    total = ctypes.c_double()
    _check(_clip_norm(ptrs, numels, len(grads), float(max_norm), float(norm_type),
                      ctypes.byref(total)), None, "clip_grad_norm_")
    return total.value


def clip_grad_value_(grads, clip_value):
    """torch.nn.utils.clip_grad_value_ on float32 arrays, in place."""
    grads, ptrs, numels = _grad_list(grads)
    _check(_clip_value(ptrs, numels, len(grads), float(clip_value)), None, "clip_grad_value_")
