"""adaopt.torch: drop-in replacements for torch.optim's optimizers, stepping with adaopt's C kernels.

Change one import and nothing else::

    from adaopt.torch import AdamW          # was: from torch.optim import AdamW
    opt = AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=1000)
    for x, y in data:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        sched.step()
    torch.save(opt.state_dict(), "opt.pt")  # torch's own format: loads into torch.optim.AdamW

Each class (SGD, Adagrad, RMSprop, Adam, AdamW, Adamax, NAdam, RAdam, SparseAdam) subclasses
torch.optim.Optimizer and takes the constructor arguments and defaults of the installed torch's
class of the same name (its signature is copied at import).  A step updates the parameters in
place, on the tensors' own memory (no copy), all tensors of all groups in one C call, with the
thread count torch uses (torch.get_num_threads(), unless ``opt.threads`` is set).

What is the same as torch.optim: ``step(closure)``, ``zero_grad``, ``add_param_group``, edits of
``param_groups`` (so every lr_scheduler works), ``state_dict`` / ``load_state_dict`` in torch's
format (either way between torch.optim and adaopt.torch, mid-run), the step hooks of torch 2.x,
pickling and ``copy.deepcopy``, sparse gradients (``nn.Embedding(sparse=True)``) for SGD,
Adagrad and SparseAdam.  And the rounding: SGD to RAdam perform the float32 operations of the
installed torch's default CPU path (adaopt's option ``torch``, set from ``torch.__version__``:
``TORCH_ARITH``), so that on the same gradients they give torch's bits wherever torch's own
square root is IEEE's (README, "Bit for bit").

What differs, on purpose:
- ``opt.state[p]`` holds snapshots: torch tensors copied from adaopt's state when read (after
  each step, on first access); writing into them changes nothing (use load_state_dict).
  State arrays are float32 whatever the parameter's dtype (adaopt keeps them so).
- Refused, with the reason: parameters that are not on the CPU, not strided and contiguous, or
  not float32 / bfloat16 / float16; ``capturable=True``; ``differentiable=True``; Adam's
  ``decoupled_weight_decay=True`` (that is AdamW: use it).  ``foreach`` and ``fused`` are
  accepted and ignored (adaopt has one fused path).
- bfloat16 / float16 parameters are updated through adaopt's low-precision modes (keyword-only
  extras, also per group): ``param_update`` ('master' -- float32 master weights, the default --,
  'master_sr', 'sr', 'nearest'), ``state_storage`` ('float32', 'bf16', '8bit'),
  ``min_8bit_numel``; and ``eps_mode`` ('outside', 'inside', 'hat').  torch.optim instead
  computes in the parameter's dtype.  A state_dict carries adaopt's float32 master weights as
  the extra key 'master' (torch ignores it).
- ``save(path)`` / ``load(path)`` write adaopt's own checksummed checkpoint file (exact resume in
  every mode, 8-bit state included); ``threads``, ``isa`` and ``nonfinite`` as in adaopt.
"""

import ctypes
import inspect
import math

import torch

import adaopt as _a

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
           "Adadelta", "Rprop", "ASGD", "SparseAdam", "Lion", "AdamWScheduleFree", "Lamb"] + \
    (["Adafactor"] if hasattr(torch.optim, "Adafactor") else [])

_DTYPES = {torch.float32: _a._DTYPE_F32, torch.bfloat16: _a._DTYPE_BF16,
           torch.float16: _a._DTYPE_F16}
_STRIDED = torch.strided
# torch hyperparameters that adaopt's C options hold (betas, etas, step_sizes: two each).
_C_KEYS = ("lr", "betas", "eps", "weight_decay", "momentum", "dampening", "nesterov", "maximize",
           "amsgrad", "centered", "alpha", "lr_decay", "initial_accumulator_value",
           "momentum_decay", "decoupled_weight_decay", "eps_mode", "param_update",
           "state_storage", "min_8bit_numel", "warmup_steps", "r", "weight_lr_power",
           "weight_decouple", "fixed_decay", "grad_averaging", "adam", "clamp", "beta2_decay",
           "d", "rho", "etas", "step_sizes", "lambd", "t0", "ns_coefficients", "ns_steps",
           "adjust_lr_fn", "use_muon")
_EXTRAS = ("eps_mode", "param_update", "state_storage", "min_8bit_numel")
_MISSING = object()
_PLAIN = (float, int, bool, str)
_NOT_PROBED = ("foreach", "fused", "capturable", "differentiable")  # CUDA-only, or refused
# The torch version whose rounding the classic classes repeat (adaopt's option `torch`):
# 1 (torch 1.13) under torch 1.x, 2 under torch 2.x.
TORCH_ARITH = 1 if int(torch.__version__.split(".")[0]) < 2 else 2


def _scalar(v):
    """A hyperparameter as a float, or a tuple of floats (betas); tensors of one element too."""
    if isinstance(v, (tuple, list)):
        return tuple(_scalar(x) for x in v)
    if isinstance(v, torch.Tensor):
        if v.numel() != 1:
            raise ValueError("a tensor hyperparameter must have one element, got shape %s"
                             % (tuple(v.shape),))
        return float(v.item())
    return v


def _torch_state_format(cls):
    """How the installed torch's class stores 'step' (and NAdam's 'mu_product'): a Python int or
    a 0-d tensor of some dtype -- found by letting it take one step."""
    if "_format" in cls.__dict__:
        return cls._format
    if cls._torch_class in (_LionReference, _ScheduleFreeReference, _LambReference):
        # no 'step' in their per-parameter state
        cls._format = {"step": type(None), "mu_product": type(None)}
        return cls._format
    p = torch.zeros(cls._probe_shape, requires_grad=True)
    ref = cls._torch_class([p], lr=1e-3)
    if cls._torch_class is torch.optim.SparseAdam:
        p.grad = torch.sparse_coo_tensor(torch.tensor([[0]]), torch.ones(1), (2,))
    else:
        p.grad = torch.ones(cls._probe_shape)
    ref.step()
    fmt = {}
    for key in ("step", "mu_product"):
        v = ref.state[p].get(key)
        fmt[key] = v.dtype if isinstance(v, torch.Tensor) else type(v)
    cls._format = fmt
    return fmt


class _State(dict):
    """optimizer.state: {param: {'step': .., 'exp_avg': tensor, ..}}, torch's shape, filled from
    adaopt's state when read (one parameter at a time; everything for items() and the like)."""

    def __init__(self, opt, initial=()):
        super().__init__(initial)
        self._opt = opt

    def __getitem__(self, key):
        self._opt._refresh(key)
        return dict.get(self, key, {}) if self._opt._has_param(key) else \
            dict.__getitem__(self, key)

    def get(self, key, default=None):
        self._opt._refresh(key)
        return dict.get(self, key, default)

    def __contains__(self, key):
        self._opt._refresh(key)
        return dict.__contains__(self, key)

    def __iter__(self):
        self._opt._refresh_all()
        return dict.__iter__(self)

    def __len__(self):
        self._opt._refresh_all()
        return dict.__len__(self)

    def keys(self):
        self._opt._refresh_all()
        return dict.keys(self)

    def values(self):
        self._opt._refresh_all()
        return dict.values(self)

    def items(self):
        self._opt._refresh_all()
        return dict.items(self)

    def __reduce__(self):  # pickled as a plain dict
        self._opt._refresh_all()
        return (dict, (dict(dict.items(self)),))


class _Handle:
    """Owns one C optimizer (destroyed with this object)."""

    def __init__(self, algorithm):
        algo = ctypes.c_int()
        _a._check(_a._algorithm_from_name(algorithm.encode(), ctypes.byref(algo)))
        h = ctypes.c_void_p()
        _a._check(_a._create(algo.value, ctypes.byref(h)))
        self.h, self.algo = h, algo.value

    def __del__(self):
        if getattr(self, "h", None):
            _a._destroy(self.h)
            self.h = None


class Optimizer(torch.optim.Optimizer):
    """The base of adaopt.torch's classes (see the module docstring)."""

    _torch_class = None   # the torch.optim class this one replaces
    _algorithm = None     # adaopt's algorithm
    _sparse_only = False  # SparseAdam
    _wd_divisor = None    # lion-pytorch's decoupled_weight_decay: weight_decay / initial lr
    _probe_shape = (2,)   # a parameter the torch class takes (Muon: a matrix)

    def __init__(self, params, *args, **kwargs):
        sig = inspect.signature(self._torch_class.__init__)
        extras = {k: kwargs.pop(k) for k in _EXTRAS if k in kwargs}
        bound = sig.bind(self, params, *args, **kwargs)  # torch's own TypeErrors
        bound.apply_defaults()
        defaults = {k: v for k, v in bound.arguments.items() if k not in ("self", "params")}
        for name, param in sig.parameters.items():  # a reference's **kwargs: its own keys
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                defaults.update(defaults.pop(name, {}))
        # torch's own checks of the values, and the defaults its class adds beyond its
        # signature (torch 2.x's AdamW: decoupled_weight_decay=True), from a probe instance.
        probe = self._torch_class([torch.zeros(self._probe_shape, requires_grad=True)], **{
            k: v for k, v in defaults.items() if k not in _NOT_PROBED})
        for key, value in probe.defaults.items():
            defaults.setdefault(key, value)
        defaults.update(extras)
        if defaults.get("use_triton"):
            raise ValueError("use_triton=True is not supported: adaopt.torch steps on the CPU")
        # lion-pytorch's decoupled_weight_decay: the decay is weight_decay / (the initial lr)
        self._wd_divisor = _scalar(defaults["lr"]) if defaults.get("decoupled_weight_decay") \
            and self._algorithm == "lion" else None
        self._core = _Handle(self._algorithm)
        self._init_tables()
        super().__init__(params, defaults)
        self.state = _State(self)

    def _aux_step(self, p):
        """Whether p keeps a 'step' its torch class does not (MuonWithAuxAdam's AdamW groups)."""
        return False

    def _init_tables(self):
        self._cparams = []     # parameters in the C optimizer's tensor order
        self._cgroups = []     # per torch group: its C groups (one per parameter dtype)
        self._cgroup_dtypes = []  # per torch group: the parameter dtype of each C group
        self._lists = []       # per torch group: its 'params' list and length when added
        self._synced = []      # per torch group: the hyperparameters the C groups have
        self._index = {}       # id(param) -> C tensor index
        self._ptrs = []        # data_ptr of each parameter when last checked
        self._numels = []
        self._dtypes = []
        self._version = 0      # steps taken through this object (state snapshots go stale)
        self._fresh = {}       # C index -> self._version of its snapshot
        self._threads = None   # None: follow torch.get_num_threads()
        self._threads_set = None
        self._reserved = (0, 0, 0)
        self._rounding_seed = 0
        self._typed = False
        self._pp = self._gp = None

    # -- groups -----------------------------------------------------------------------------
    def add_param_group(self, param_group):
        g = len(self.param_groups)
        super().add_param_group(param_group)  # torch's checks: tensors, duplicates, defaults
        group = self.param_groups[g]
        try:
            self._check_group(g, group)  # every value, before the C optimizer changes
            self._add_c_groups(g, group["params"])
        except Exception:
            self.param_groups.pop()
            raise

    def _check_group(self, g, group):
        """The values of a group's hyperparameters (its parameters: _add_c_groups)."""
        self._check_unsupported(g, group)
        for key in _C_KEYS:
            if key in group and self._applies(key):
                value = _scalar(group[key])
                for name, c in self._c_pairs(key, value):
                    st = _a._check_option(self._core.algo, _a._option_id(name), c)
                    if st != 0:
                        raise _a.AdaoptError(st, "param_groups[%d]: invalid %s=%r for %s (%s)" % (
                            g, name, c, type(self).__name__, _a._status_name(st).decode()))

    def _check_param(self, p, what):
        if not isinstance(p, torch.Tensor):
            raise TypeError("%s must be a torch.Tensor, got %s" % (what, type(p).__name__))
        if p.device.type != "cpu":
            raise ValueError("adaopt.torch runs on the CPU: %s is on %s (keep the model on the "
                             "CPU, or use torch.optim for it)" % (what, p.device))
        if p.layout is not _STRIDED:
            raise ValueError("%s must be a dense (strided) tensor, got layout %s"
                             % (what, p.layout))
        if p.dtype not in _DTYPES:
            raise TypeError("%s must be float32, bfloat16 or float16, got %s" % (what, p.dtype))
        if not p.is_contiguous():
            raise ValueError("%s is not contiguous: adaopt updates a parameter's memory in "
                             "place, so it must be one block (make it with .contiguous() "
                             "before building the model's optimizer)" % what)

    def _add_c_groups(self, g, params):
        first = len(self._cparams)
        for k, p in enumerate(params):
            self._check_param(p, "parameter %d of group %d" % (k, g))
        spans = sorted((p.data_ptr(), p.data_ptr() + p.numel() * p.element_size())
                       for p in list(self._cparams) + list(params) if p.numel())
        for (_, end), (start, _) in zip(spans, spans[1:]):
            if start < end:
                raise ValueError("two parameters share memory: each would be updated twice "
                                 "per step")
        order = []  # C groups: the parameters of each dtype, in order of first appearance
        for dt in dict.fromkeys(p.dtype for p in params):
            order.append((dt, [p for p in params if p.dtype is dt]))
        made = []
        h = self._core.h
        for dt, ps in order:
            numels = (ctypes.c_size_t * len(ps))(*[p.numel() for p in ps])
            index = ctypes.c_size_t()
            code = _DTYPES[dt]
            _a._check(_a._add_group_typed(h, numels, len(ps), code, code, ctypes.byref(index)),
                      h, "add_param_group")
            made.append(index.value)
            # round as the installed torch's optimizers do (the C option `torch`, which the
            # classes that are torch.optim's in both torch versions have)
            torch_id = _a._option_id("torch")
            if _a._check_option(self._core.algo, torch_id, float(TORCH_ARITH)) == 0:
                _a._check(_a._set(h, index.value, torch_id, float(TORCH_ARITH)), h,
                          "add_param_group")
            self._typed |= code != _a._DTYPE_F32
            for p in ps:
                self._index[id(p)] = len(self._cparams)
                self._cparams.append(p)
                self._ptrs.append(p.data_ptr())
                self._numels.append(p.numel())
                self._dtypes.append(dt)
        # The C library has no "remove group": a failure below leaves unused C groups behind,
        # which are harmless (their tensors are never given gradients) but counted; rebuild.
        self._cgroups.append(made)
        self._cgroup_dtypes.append([dt for dt, _ in order])
        self._lists.append((params, len(params)))
        self._synced.append({})
        n = len(self._cparams)
        self._pp = (ctypes.c_void_p * n)(*self._ptrs)
        self._gp = (ctypes.c_void_p * n)()
        try:
            self._sync(g)
        except Exception:
            self._rebuild_without_last(first)
            raise

    def _rebuild_without_last(self, first):
        """A new group whose options the C optimizer refused after all (the values were checked
        before): a new C optimizer with the other groups, their state carried over."""
        groups = self.param_groups[:-1]
        entries = {}
        for i in range(first):
            self._snapshot(i)
            p = self._cparams[i]
            entries[i] = self._entry_in(p, dict.get(self.state, p, {}))
        keep = (self.nonfinite, self._rounding_seed, self._threads, self.isa,
                self.overwrite_grads)
        self._core = _Handle(self._algorithm)
        self._init_tables()
        for g, group in enumerate(groups):
            self._add_c_groups(g, group["params"])
        self._push_state(entries)
        self.nonfinite, self._threads = keep[0], keep[2]
        self.set_rounding_seed(keep[1])
        self.isa = keep[3]
        if keep[4]:
            self.overwrite_grads = True
        self.state = _State(self)

    # -- hyperparameters --------------------------------------------------------------------
    def _check_unsupported(self, g, group):
        if group.get("capturable"):
            raise ValueError("param_groups[%d]: capturable=True is not supported: it is for "
                             "CUDA graphs, and adaopt.torch steps on the CPU" % g)
        if group.get("differentiable"):
            raise ValueError("param_groups[%d]: differentiable=True is not supported: adaopt's "
                             "step is not recorded by autograd" % g)
        if self._algorithm == "adam" and group.get("decoupled_weight_decay") and \
                not self._sparse_only:
            raise ValueError("param_groups[%d]: Adam(decoupled_weight_decay=True) is AdamW: "
                             "use adaopt.torch.AdamW" % g)

    def _sync(self, g):
        """Pushes the changed hyperparameters of param_groups[g] to its C groups."""
        group, synced = self.param_groups[g], self._synced[g]
        for key in _C_KEYS:
            v = group.get(key, _MISSING)
            if v is _MISSING or (synced.get(key, _MISSING) is v and type(v) in _PLAIN):
                continue  # (a tensor lr may have been filled in place: compare its value)
            value = _scalar(v)
            if key == "weight_decay" and self._wd_divisor is not None:
                value = value / self._wd_divisor
            if synced.get("=" + key, _MISSING) == value:
                synced[key] = v
                continue
            if key == "decoupled_weight_decay" and self._algorithm == "adam":
                self._check_unsupported(g, group)  # (False: nothing to set)
                synced[key], synced["=" + key] = v, value
                continue
            if not self._applies(key):
                synced[key], synced["=" + key] = v, value
                continue
            for name, c in self._c_pairs(key, value):
                for cg, dt in zip(self._cgroups[g], self._cgroup_dtypes[g]):
                    if key == "param_update" and dt is torch.float32:
                        continue  # how a bf16/fp16 parameter is written: not for float32 ones
                    _a._check(_a._set(self._core.h, cg, _a._option_id(name), c), self._core.h,
                              "param_groups[%d][%r]" % (g, key))
            synced[key], synced["=" + key] = v, value
        if group.get("capturable") or group.get("differentiable"):
            self._check_unsupported(g, group)

    _c_pairs = staticmethod(_a.Optimizer._c_pairs)  # (Adafactor: its eps pair)

    def _applies(self, key):
        names = _a._PAIRS.get(key) or (["eps2"] if key == "eps" and
                                        self._algorithm == "adafactor" else [key])
        value = ctypes.c_double()
        return _a._default(self._core.algo, _a._option_id(names[0]), ctypes.byref(value)) == 0

    def _sync_all(self):
        for g in range(len(self.param_groups)):
            self._sync(g)

    # -- the step ---------------------------------------------------------------------------
    def step(self, closure=None):  # (no autograd here: the C call is outside it anyway)
        """One step for every parameter that has a gradient (torch.optim's contract)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        lists = self._lists
        if len(lists) != len(self.param_groups) or any(
                g["params"] is not l or len(l) != n for g, (l, n) in zip(self.param_groups, lists)):
            raise RuntimeError("the parameters of param_groups were changed by hand: adaopt "
                               "holds state per parameter, so add them with add_param_group "
                               "(or build a new optimizer)")
        self._sync_all()
        threads = self._threads if self._threads is not None else torch.get_num_threads()
        if threads != self._threads_set:
            _a._check(_a._set_threads(self._core.h, threads), self._core.h, "threads")
            self._threads_set = threads
        pp, gp, ptrs, numels, dtypes = self._pp, self._gp, self._ptrs, self._numels, self._dtypes
        sparse = keep = None
        fast = None if self._sparse_only else self._plain_grads()
        if fast is not None:  # every gradient dense, contiguous, as expected; no param moved
            gp[:] = fast
        for i, p in enumerate(self._cparams if fast is None else ()):
            ptr = p.data_ptr()
            if ptr != ptrs[i] or p.numel() != numels[i] or not p.is_contiguous():
                self._recheck_param(i, p)
                pp[i] = ptrs[i] = ptr
            g = p.grad
            if g is None:
                gp[i] = None
                continue
            if g.layout is not _STRIDED or g.dtype is not dtypes[i] or not g.is_cpu or \
                    not g.is_contiguous() or g.numel() != numels[i]:
                if keep is None:
                    keep = []
                g = self._odd_grad(i, p, g)
                if isinstance(g, tuple):  # row-sparse
                    if sparse is None:
                        sparse = (_a._SparseGrad * len(pp))()
                    sparse[i] = g[0]
                    keep.append(g[1])
                    gp[i] = None
                    continue
                keep.append(g)
            elif self._sparse_only:
                raise RuntimeError("SparseAdam does not support dense gradients, please "
                                   "consider Adam instead")
            gp[i] = g.data_ptr()
        h = self._core.h
        if sparse is None:
            _a._check((_a._step_typed if self._typed else _a._step)(h, pp, gp, len(pp)), h,
                      "step")
        else:
            need = list(self._reserved)
            for s, n in zip(sparse, numels):
                if s.row_len:
                    need = [max(need[0], s.n_indices), max(need[1], s.row_len),
                            max(need[2], n // s.row_len)]
            if tuple(need) != self._reserved:
                _a._check(_a._reserve_sparse(h, *need), h, "step")
                self._reserved = tuple(need)
            step = _a._step_sparse_typed if self._typed else _a._step_sparse
            _a._check(step(h, pp, gp, ctypes.cast(sparse, ctypes.c_void_p), len(pp)), h, "step")
        self._version += 1
        return loss

    def _plain_grads(self):
        """The gradients' addresses in C order (None where a parameter has none) when every
        one is the plain case -- dense, contiguous, on the CPU, of the parameter's dtype and
        size -- and no parameter's memory moved; else None (the step's slow path sorts it out)."""
        out = []
        append = out.append
        for p, ptr, dt, n in zip(self._cparams, self._ptrs, self._dtypes, self._numels):
            if p.data_ptr() != ptr or p.numel() != n:  # (resized in place: the slow path says so)
                return None
            g = p.grad
            if g is None:
                append(None)
            elif g.dtype is dt and g.layout is _STRIDED and g.is_cpu and g.is_contiguous() and \
                    g.numel() == n:
                append(g.data_ptr())
            else:
                return None
        return out

    def _recheck_param(self, i, p):
        self._check_param(p, "parameter %d" % i)
        if p.numel() != self._numels[i] or p.dtype is not self._dtypes[i]:
            raise ValueError("parameter %d was replaced by one of another size or dtype (%d %s, "
                             "was %d %s): build a new optimizer" % (
                                 i, p.numel(), p.dtype, self._numels[i], self._dtypes[i]))

    def _odd_grad(self, i, p, g):
        """A gradient the fast path does not take: a row-sparse one (returned as its C
        description and the tensors to keep alive), a non-contiguous one (a contiguous copy),
        or an error."""
        name = self._torch_class.__name__
        if g.layout is torch.sparse_coo:
            if self._algorithm not in ("sgd", "adagrad") and not self._sparse_only:
                raise RuntimeError("%s does not support sparse gradients%s" % (
                    name, ", please consider SparseAdam instead" if name.startswith("Adam")
                    else ""))
            if g.sparse_dim() != 1 or tuple(g.shape) != tuple(p.shape) or p.dim() < 1:
                raise RuntimeError("parameter %d: adaopt takes row-sparse gradients (sparse "
                                   "along the first dimension only, as nn.Embedding's)" % i)
            if g.dtype is not self._dtypes[i] and g.dtype is not torch.float32:
                raise TypeError("parameter %d: sparse gradient of dtype %s for a %s parameter"
                                % (i, g.dtype, self._dtypes[i]))
            if not g.is_cpu:
                raise ValueError("parameter %d: its gradient is on %s, not the CPU"
                                 % (i, g.device))
            idx = g._indices()[0].contiguous()
            vals = g._values().to(torch.float32).contiguous()
            row_len = p.numel() // p.shape[0] if p.shape[0] else 0
            if row_len == 0:
                raise RuntimeError("parameter %d: a sparse gradient of an empty table" % i)
            if idx.numel() == 0:
                idx = torch.zeros(1, dtype=torch.int64)
                n = 0
            else:
                n = idx.numel()
            s = _a._SparseGrad(idx.data_ptr(), n, vals.data_ptr() if n else None, row_len)
            return s, (idx, vals)
        if g.layout is not _STRIDED:
            raise RuntimeError("parameter %d: gradients of layout %s are not supported"
                               % (i, g.layout))
        if not g.is_cpu:
            raise ValueError("parameter %d: its gradient is on %s, not the CPU" % (i, g.device))
        if g.dtype is not self._dtypes[i]:
            raise TypeError("parameter %d: gradient of dtype %s for a %s parameter (adaopt takes "
                            "gradients in the parameter's dtype)" % (i, g.dtype, self._dtypes[i]))
        if g.numel() != self._numels[i]:
            raise ValueError("parameter %d: gradient of %d elements for a parameter of %d"
                             % (i, g.numel(), self._numels[i]))
        if self._sparse_only:
            raise RuntimeError("SparseAdam does not support dense gradients, please consider "
                               "Adam instead")
        return g.contiguous()

    # -- state: snapshots in torch's format -------------------------------------------------
    def _has_param(self, key):
        return isinstance(key, torch.Tensor) and id(key) in self._index

    def _refresh(self, key):
        if isinstance(key, torch.Tensor):
            i = self._index.get(id(key))
            if i is not None and self._fresh.get(i) != self._version:
                self._snapshot(i)

    def _refresh_all(self):
        for i in range(len(self._cparams)):
            if self._fresh.get(i) != self._version:
                self._snapshot(i)

    def _snapshot(self, i):
        h, p = self._core.h, self._cparams[i]
        step = ctypes.c_double()
        _a._check(_a._state_scalar(h, i, _a._STATE_KINDS["step"], ctypes.byref(step)), h)
        entry = {}
        if step.value > 0:
            fmt = _torch_state_format(type(self))
            if fmt["step"] is not type(None) or self._aux_step(p):  # (torch's SGD keeps none)
                entry["step"] = self._scalar_out(step.value, fmt["step"])
            if self._algorithm == "nadam":
                mu = ctypes.c_double()
                _a._check(_a._state_scalar(h, i, _a._STATE_KINDS["mu_product"],
                                           ctypes.byref(mu)), h)
                entry["mu_product"] = self._scalar_out(mu.value, fmt["mu_product"])
            for key, kind in _a._TENSOR_SCALARS[self._algorithm].items():
                v = ctypes.c_double()
                _a._check(_a._state_scalar(h, i, kind, ctypes.byref(v)), h)
                entry[key] = torch.tensor(v.value, dtype=torch.float32)  # (its foreach path's)
            for key in _a._STATE_KEYS[self._algorithm]:
                t = self._array_out(i, _a._STATE_KINDS[key])
                if t is not None:
                    entry[key] = t
            master = self._array_out(i, _MASTER)
            if master is not None:
                entry["master"] = master
        dict.pop(self.state, p, None)
        if entry:
            dict.__setitem__(self.state, p, entry)
        self._fresh[i] = self._version

    @staticmethod
    def _scalar_out(value, fmt):
        if fmt is int:
            return int(value)
        if fmt is float or not isinstance(fmt, torch.dtype):
            return float(value)
        return torch.tensor(value, dtype=fmt)

    def _state_shape(self, i, kind):
        """The shape of parameter i's state array `kind` (the parameter's; Adafactor's differ)."""
        return self._cparams[i].shape

    def _array_out(self, i, kind):
        h = self._core.h
        data, n = _a._c_float_p(), ctypes.c_size_t()
        st = _a._state(h, i, kind, ctypes.byref(data), ctypes.byref(n))
        if st in (_a._ERR_STATE, _a._ERR_OPTION):
            return None
        _a._check(st, h)
        out = torch.empty(self._state_shape(i, kind), dtype=torch.float32)
        if n.value:
            ctypes.memmove(out.data_ptr(), data, n.value * 4)
        return out

    def state_dict(self):
        """torch.optim's state_dict: {'state': {index: {'step', 'exp_avg', ..}}, 'param_groups':
        [..]}, loadable by the installed torch's class of the same name (tensors are copies)."""
        self._refresh_all()
        return super().state_dict()

    def load_state_dict(self, state_dict):
        """Loads a state_dict of this class or of torch.optim's class of the same name (either
        torch version).  Everything is checked before anything changes."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, groups):
            if len(mine["params"]) != len(theirs["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't "
                                 "match the size of optimizer's group")
        saved = state_dict["state"]
        entries = {}  # C index -> {key: float32 tensor or float}
        for mine, theirs in zip(self.param_groups, groups):
            for p, key in zip(mine["params"], theirs["params"]):
                if key in saved:
                    entries[self._index[id(p)]] = self._entry_in(p, saved[key])
        for g, (mine, theirs) in enumerate(zip(self.param_groups, groups)):
            merged = dict(mine)
            merged.update(theirs)
            self._check_group(g, merged)
        # Checked: torch's own load (param_groups, and its own copy of the state, replaced).
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)
        self._sync_all()
        self._push_state(entries)
        self.state = _State(self)
        self._version += 1

    def _entry_in(self, p, saved):
        keys = _a._STATE_KEYS[self._algorithm]
        entry = {}
        for k, v in saved.items():
            if v is None:
                continue
            if k in ("step", "mu_product") or k in _a._TENSOR_SCALARS[self._algorithm]:
                try:
                    entry[k] = float(v.item() if isinstance(v, torch.Tensor) else v)
                except (TypeError, ValueError, RuntimeError):
                    raise ValueError("parameter %d: state %r must be a number, got %r"
                                     % (self._index[id(p)], k, v))
                _a._check_state_scalar(self._index[id(p)], k, entry[k])
                continue
            if k not in keys and k != "master":
                raise ValueError("%s keeps no state %r (is this state dict of another "
                                 "optimizer?)" % (type(self).__name__, k))
            want = p.numel()
            if k in ("row_var", "col_var") and p.dim() >= 2:  # Adafactor's factored shapes
                want = p.numel() // p.shape[-1 if k == "row_var" else -2] if p.numel() else 0
            if not isinstance(v, torch.Tensor) or v.numel() != want:
                raise ValueError("state %r must be a tensor of %d elements, got %r" % (
                    k, want, getattr(v, "shape", type(v).__name__)))
            entry[k] = v.detach().to("cpu", torch.float32).contiguous().reshape(-1)
            _a._check_state_array(self._index[id(p)], k, entry[k].numpy())
        if entry and "step" not in entry:
            if self._algorithm in ("adamw_schedulefree", "lamb"):  # they count steps per group
                entry["step"] = float(getattr(self, "_group_k", {}).get(id(p), 0))
            elif _torch_state_format(type(self))["step"] is not type(None) or self._aux_step(p):
                raise ValueError("a parameter's state has no 'step'")
            else:
                entry["step"] = 1.0  # torch's SGD and Muon, lion-pytorch keep no step: a
                #                      buffer = stepped
        return entry

    def _push_state(self, entries):
        h = self._core.h
        for i, p in enumerate(self._cparams):
            entry = entries.get(i, {})
            for key in _a._STATE_KEYS[self._algorithm]:
                kind = _a._STATE_KINDS[key]
                a = entry.get(key)
                if a is None:
                    held = self._array_out(i, kind)
                    if held is None:
                        continue  # nothing held: stays fresh (zero)
                    a = torch.zeros(held.numel(), dtype=torch.float32)
                st = _a._set_state(h, i, kind, a.data_ptr(), a.numel())
                if st != _a._ERR_OPTION:
                    _a._check(st, h, "load_state_dict")
            master = entry.get("master")
            if master is None:
                master = p.detach().to(torch.float32).contiguous().reshape(-1)
            st = _a._set_state(h, i, _MASTER, master.data_ptr(), master.numel())
            if st != _a._ERR_OPTION:
                _a._check(st, h, "load_state_dict")
            _a._check(_a._set_state_scalar(h, i, _a._STATE_KINDS["step"],
                                           entry.get("step", 0.0)), h, "load_state_dict")
            if self._algorithm == "nadam":
                _a._check(_a._set_state_scalar(h, i, _a._STATE_KINDS["mu_product"],
                                               entry.get("mu_product", 1.0)), h,
                          "load_state_dict")
            for key, kind in _a._TENSOR_SCALARS[self._algorithm].items():
                if key in entry:
                    _a._check(_a._set_state_scalar(h, i, kind, entry[key]), h, "load_state_dict")

    # -- pickling: the groups, and adaopt's exact state as its checkpoint bytes ------------
    def __getstate__(self):
        self._sync_all()
        h = self._core.h
        size = _a._lib.adaopt_checkpoint_size(h)
        buf = ctypes.create_string_buffer(size)
        _a._check(_a._save_buffer(h, buf, size, None), h, "pickle")
        return {"defaults": self.defaults, "param_groups": self.param_groups,
                "_adaopt": {"checkpoint": buf.raw, "threads": self._threads,
                            "overwrite_grads": self.overwrite_grads,
                            "rounding_seed": self._rounding_seed,
                            "wd_divisor": self._wd_divisor}}

    def __setstate__(self, state):
        if "_core" in self.__dict__:  # torch's load_state_dict installing its own copy
            super().__setstate__(state)
            return
        extra = state.pop("_adaopt")
        groups = state.pop("param_groups")
        super().__setstate__(state)
        self._wd_divisor = extra.get("wd_divisor")
        self._core = _Handle(self._algorithm)
        self._init_tables()
        self.param_groups = []
        self.state = _State(self)
        for group in groups:
            self.param_groups.append(group)
            self._add_c_groups(len(self.param_groups) - 1, group["params"])
        blob = extra["checkpoint"]
        _a._check(_a._load_buffer(self._core.h, blob, len(blob)), self._core.h, "unpickle")
        self._threads = extra["threads"]
        if extra.get("overwrite_grads"):
            self.overwrite_grads = True
        self.set_rounding_seed(extra["rounding_seed"])

    # -- adaopt extensions ------------------------------------------------------------------
    def save(self, path):
        """Writes adaopt's checkpoint file (atomically): exact resume in every mode."""
        self._sync_all()
        _a._check(_a._save_file(self._core.h, _a._c_path(path)), self._core.h, "save")

    def load(self, path):
        """Loads a checkpoint written by save() of an optimizer built the same way (the
        hyperparameters in param_groups are set from it)."""
        h = self._core.h
        _a._check(_a._load_file(h, _a._c_path(path)), h, "load")
        value = ctypes.c_double()
        for g, group in enumerate(self.param_groups):
            cg = self._cgroups[g][0]
            for key in _C_KEYS:
                if key not in group or not self._applies(key):
                    continue
                names = _a._PAIRS.get(key, [key])
                got = []
                for name in names:
                    _a._check(_a._get(h, cg, _a._option_id(name), ctypes.byref(value)), h)
                    got.append(value.value)
                old = group[key]
                if key in _a._PAIRS:
                    new = tuple(got)
                elif isinstance(old, bool):
                    new = bool(got[0])
                elif isinstance(old, str):
                    words = _a._WORDS.get(key, _a._EPS_MODES)
                    new = {c: w for w, c in words.items()}[int(got[0])]
                else:
                    new = got[0]
                group[key] = new
                self._synced[g][key], self._synced[g]["=" + key] = new, _scalar(new)
        self._version += 1

    @property
    def threads(self):
        """Threads per step: torch.get_num_threads() unless set (None: follow torch again)."""
        return self._threads if self._threads is not None else torch.get_num_threads()

    @threads.setter
    def threads(self, n):
        if n is not None:
            _a._check_threads(n, 1)  # (None: follow torch)
        self._threads = n

    @property
    def overwrite_grads(self):
        """LAMB and Adafactor (adaopt extension): True lets step() store each element's update
        direction u over its float32 .grad, as apex's FusedLAMB does, so that the last pass
        reads p and u instead of recomputing u -- less to read (LAMB) or compute (Adafactor),
        the same results.
        The .grad tensors hold u after the step (one step() had to copy, non-contiguous, keeps
        its values); .grad tensors that overlap each other or a parameter are refused."""
        return bool(_a._get_overwrite(self._core.h))

    @overwrite_grads.setter
    def overwrite_grads(self, on):
        if not isinstance(on, bool):
            raise ValueError("overwrite_grads must be True or False")
        _a._check(_a._set_overwrite(self._core.h, int(on)), self._core.h, "overwrite_grads")

    @property
    def isa(self):
        code = _a._get_isa(self._core.h)
        return [k for k, v in _a._ISAS.items() if v == code][0]

    @isa.setter
    def isa(self, name):
        if name not in _a._ISAS:
            raise ValueError("isa must be one of %s" % sorted(_a._ISAS))
        _a._check(_a._set_isa(self._core.h, _a._ISAS[name]), self._core.h, "isa")

    @property
    def nonfinite(self):
        """'propagate' (torch's behaviour), 'skip' or 'error': see adaopt.Optimizer."""
        code = _a._get_policy(self._core.h)
        return [k for k, v in _a._POLICIES.items() if v == code][0]

    @nonfinite.setter
    def nonfinite(self, name):
        if name not in _a._POLICIES:
            raise ValueError("nonfinite must be one of %s" % sorted(_a._POLICIES))
        _a._check(_a._set_policy(self._core.h, _a._POLICIES[name]), self._core.h, "nonfinite")

    def set_rounding_seed(self, seed):
        """The seed of stochastic rounding's noise (kept in checkpoints and pickles)."""
        _a._check(_a._set_rounding_seed(self._core.h, int(seed)), self._core.h)
        self._rounding_seed = int(seed)

    @property
    def state_bytes(self):
        """Bytes of optimizer state adaopt holds (8-bit codes, master weights included)."""
        return int(_a._state_bytes(self._core.h))


_MASTER = _a._MASTER  # ADAOPT_STATE_MASTER
_a._save_buffer = _a._fn("adaopt_save_buffer", ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t))
_a._load_buffer = _a._fn("adaopt_load_buffer", ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p,
                         ctypes.c_size_t)
_a._lib.adaopt_checkpoint_size.restype = ctypes.c_size_t
_a._lib.adaopt_checkpoint_size.argtypes = [ctypes.c_void_p]


def _signature(torch_cls):
    sig = inspect.signature(torch_cls.__init__)
    params = list(sig.parameters.values())
    kw = inspect.Parameter.KEYWORD_ONLY
    varkw = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]  # (stays last)
    params = [p for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD]
    params += [inspect.Parameter(name, kw, default=None) for name in _EXTRAS
               if name not in sig.parameters]
    return sig.replace(parameters=params + varkw)


class _LionReference:
    """lion-pytorch's Lion, as far as its constructor goes (lion_pytorch/lion_pytorch.py 0.2.5):
    its signature, defaults and checks, so adaopt.torch.Lion needs no lion-pytorch installed."""

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0,
                 use_triton: bool = False, decoupled_weight_decay: bool = False):
        if not _scalar(lr) > 0.0:
            raise ValueError("Invalid learning rate: %r (Lion needs lr > 0)" % (lr,))
        if not all(0.0 <= _scalar(b) <= 1.0 for b in betas):
            raise ValueError("Invalid betas: %r (each in [0, 1])" % (betas,))
        self.defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay)


_LionReference.__name__ = "Lion"


class _ScheduleFreeReference:
    """schedulefree's AdamWScheduleFree, as far as its constructor goes (schedulefree 1.4.1,
    adamw_schedulefree.py): its signature and defaults, and the group keys it adds (it checks
    no value; adaopt's checks apply).  adaopt.torch.AdamWScheduleFree needs no schedulefree."""

    def __init__(self, params, lr=0.0025, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, warmup_steps: int = 0, r: float = 0.0,
                 weight_lr_power: float = 2.0, foreach=hasattr(torch, "_foreach_mul_")):
        self.defaults = dict(lr=lr, betas=betas, eps=eps, r=r, k=0, warmup_steps=warmup_steps,
                             train_mode=False, weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0,
                             weight_lr_power=weight_lr_power, weight_decay=weight_decay,
                             foreach=foreach)


_ScheduleFreeReference.__name__ = "AdamWScheduleFree"


class _LambReference:
    """pytorch-optimizer's Lamb, as far as its constructor goes (pytorch_optimizer 4.1.0,
    optimizer/lamb.py): its signature, defaults and checks; adaopt.torch.Lamb needs no
    pytorch-optimizer installed."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), weight_decay: float = 0.0,
                 weight_decouple: bool = True, fixed_decay: bool = False, rectify: bool = False,
                 degenerated_to_sgd: bool = False, n_sma_threshold: int = 5,
                 grad_averaging: bool = True, max_grad_norm: float = 1.0, adam: bool = False,
                 pre_norm: bool = False, eps: float = 1e-6, foreach=None,
                 maximize: bool = False, **kwargs):
        if _scalar(lr) < 0.0:
            raise ValueError("[-] learning rate must be positive. (%r)" % (lr,))
        for name, b in zip(("beta1", "beta2"), betas):
            if not 0.0 <= _scalar(b) < 1.0:
                raise ValueError("[-] %s must be in the range [0, 1)" % name)
        for name, v in (("weight_decay", weight_decay), ("max_grad_norm", max_grad_norm),
                        ("eps", eps)):
            if _scalar(v) < 0.0:
                raise ValueError("[-] %s must be non-negative" % name)
        self.defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay,
                             weight_decouple=weight_decouple, fixed_decay=fixed_decay,
                             rectify=rectify, grad_averaging=grad_averaging,
                             max_grad_norm=max_grad_norm, adam=adam, eps=eps, foreach=foreach,
                             **kwargs)


_LambReference.__name__ = "Lamb"


def _make(name, algorithm, sparse_only=False, torch_cls=None):
    torch_cls = torch_cls or getattr(torch.optim, name)

    def __init__(self, params, *args, **kwargs):
        Optimizer.__init__(self, params, *args, **kwargs)
    __init__.__signature__ = _signature(torch_cls)
    __init__.__doc__ = "As %s.%s%s; see adaopt.torch." % (
        {_LionReference: "lion_pytorch", _ScheduleFreeReference: "schedulefree",
         _LambReference: "pytorch_optimizer"}.get(
            torch_cls, "torch.optim"), name,
        str(inspect.signature(torch_cls.__init__)).replace("self, ", "", 1))
    cls = type(name, (Optimizer,), {
        "_torch_class": torch_cls, "_algorithm": algorithm, "_sparse_only": sparse_only,
        "__init__": __init__, "__module__": __name__,
        "__doc__": "adaopt's %s with torch.optim.%s's interface (see adaopt.torch)."
                   % (algorithm, name)})
    return cls


SGD = _make("SGD", "sgd")
Adagrad = _make("Adagrad", "adagrad")
RMSprop = _make("RMSprop", "rmsprop")
Adam = _make("Adam", "adam")
AdamW = _make("AdamW", "adamw")
Adamax = _make("Adamax", "adamax")
NAdam = _make("NAdam", "nadam")
RAdam = _make("RAdam", "radam")
Adadelta = _make("Adadelta", "adadelta")
Rprop = _make("Rprop", "rprop")
ASGD = _make("ASGD", "asgd")
SparseAdam = _make("SparseAdam", "adam", sparse_only=True)
Lion = _make("Lion", "lion", torch_cls=_LionReference)  # lion-pytorch's Lion


_GROUP_KEYS = ("k", "weight_sum", "lr_max", "scheduled_lr")


class AdamWScheduleFree(_make("AdamWScheduleFree", "adamw_schedulefree",
                              torch_cls=_ScheduleFreeReference)):
    """adaopt's Schedule-Free AdamW with schedulefree.AdamWScheduleFree's interface: call
    ``opt.train()`` before training steps and ``opt.eval()`` before evaluating or saving the
    model (the parameters then hold the average x).  As in schedulefree the optimizer starts in
    eval mode and a step in eval mode raises; each param_group carries 'k', 'weight_sum',
    'lr_max', 'scheduled_lr' and 'train_mode' (updated by each step), and state_dict()s load
    both ways with schedulefree's.  Unlike schedulefree's step, p.grad is left as it was (the
    reference overwrites it with the normalized gradient)."""

    def __init__(self, params, *args, **kwargs):
        self._group_k = {}
        Optimizer.__init__(self, params, *args, **kwargs)
        self._set_mode(False)  # schedulefree's: eval until train() (nothing to swap yet)
    __init__.__signature__ = _signature(_ScheduleFreeReference)

    def _set_mode(self, training):
        """The C optimizer's mode flag and every group's train_mode, moving nothing."""
        _a._check(_a._set_group_state(self._core.h, 0, _SF_TRAIN_MODE, float(training)),
                  self._core.h, "train_mode")
        for group in self.param_groups:
            group["train_mode"] = training

    def _mode(self, training):
        self._sync_all()
        fn = _a._train if training else _a._eval
        _a._check(fn(self._core.h, self._pp, len(self._cparams)), self._core.h,
                  "train" if training else "eval")
        for group in self.param_groups:
            group["train_mode"] = training
        self._version += 1

    @torch.no_grad()
    def train(self):
        """Parameters to y, where gradients are taken (schedulefree's train())."""
        self._mode(True)

    @torch.no_grad()
    def eval(self):
        """Parameters to x, the average: evaluate, save or ship these (schedulefree's eval())."""
        self._mode(False)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if getattr(self, "_core", None) is not None and len(self._cgroups) == len(self.param_groups):
            group["train_mode"] = _a._is_training(self._core.h) != 0

    def step(self, closure=None):
        if not self.param_groups[0]["train_mode"]:
            raise Exception("Optimizer was not in train mode when step is called. "
                            "Please insert .train() and .eval() calls on the "
                            "optimizer. See documentation for details.")
        loss = super().step(closure)
        self._pull_group_scalars()
        return loss

    def _pull_group_scalars(self):
        value = ctypes.c_double()
        h = self._core.h
        for g, group in enumerate(self.param_groups):
            cg = self._cgroups[g][0]
            for key in _GROUP_KEYS:
                _a._check(_a._group_state(h, cg, _a._GROUP_KINDS[key], ctypes.byref(value)), h)
                group[key] = int(value.value) if key == "k" else value.value

    def load_state_dict(self, state_dict):
        """Loads a state_dict of this class or of schedulefree's AdamWScheduleFree; the group
        scalars and train_mode come with it, the parameters do not move."""
        groups = state_dict["param_groups"]
        scalars = []
        for g, theirs in enumerate(groups):
            row = {}
            for key in ("k", "weight_sum", "lr_max"):
                if key not in theirs:
                    raise ValueError("param_groups[%d] has no %r: not a Schedule-Free state dict"
                                     % (g, key))
                row[key] = float(_scalar(theirs[key]))
            if not (row["k"] >= 0 and row["k"] == math.floor(row["k"]) and row["k"] <= 2 ** 53):
                raise ValueError("param_groups[%d]: k must be a whole number >= 0" % g)
            if not row["weight_sum"] >= 0 or not (-1 <= row["lr_max"] <= 3.4028234663852886e38):
                raise ValueError("param_groups[%d]: invalid weight_sum or lr_max" % g)
            scalars.append(row)
        self._group_k = {id(p): scalars[g]["k"] for g, mine in enumerate(self.param_groups)
                         if g < len(scalars) for p in mine["params"]}
        try:
            super().load_state_dict(state_dict)
        finally:
            self._group_k = {}
        h = self._core.h
        for g, row in enumerate(scalars):
            for cg in self._cgroups[g]:
                for key, value in row.items():
                    _a._check(_a._set_group_state(h, cg, _a._GROUP_KINDS[key], value), h,
                              "load_state_dict")
        self._set_mode(bool(groups[0].get("train_mode", False)) if groups else False)
        self._pull_group_scalars()


_SF_TRAIN_MODE = 17  # ADAOPT_STATE_TRAIN_MODE


class Lamb(_make("Lamb", "lamb", torch_cls=_LambReference)):
    """adaopt's LAMB with pytorch_optimizer.Lamb's interface and defaults: Adam's direction
    scaled per tensor by min(||p||, clamp) / (||u|| + eps).  ``clamp`` is the class attribute
    (10.0), as in pytorch-optimizer: a subclass may change it.  Each param_group carries 'step'
    (its steps, as pytorch-optimizer's), and each parameter's state 'exp_avg', 'exp_avg_sq',
    'weight_norm', 'adam_norm' and 'trust_ratio'; state dicts load both ways.  Refused with a
    message: rectify, pre_norm, adanorm and adam_debias (not implemented), sparse gradients."""

    clamp = 10.0

    def __init__(self, params, *args, **kwargs):
        Optimizer.__init__(self, params, *args, **kwargs)
    __init__.__signature__ = _signature(_LambReference)

    def add_param_group(self, param_group):
        param_group = dict(param_group)  # pytorch-optimizer's class attribute, as a C option
        param_group.setdefault("clamp", float(type(self).clamp))
        super().add_param_group(param_group)

    def _check_unsupported(self, g, group):
        super()._check_unsupported(g, group)
        for key in ("rectify", "pre_norm", "adanorm", "adam_debias"):
            if group.get(key):
                raise ValueError("param_groups[%d]: %s=True is not supported by adaopt's Lamb"
                                 % (g, key))

    def step(self, closure=None):
        loss = super().step(closure)
        self._pull_group_steps()  # every group advances, as pytorch-optimizer's
        return loss

    def _pull_group_steps(self):
        h, value = self._core.h, ctypes.c_double()
        for g, group in enumerate(self.param_groups):
            if self._cgroups[g]:
                _a._check(_a._group_state(h, self._cgroups[g][0], _a._GROUP_KINDS["k"],
                                          ctypes.byref(value)), h)
                group["step"] = int(value.value)

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        self._group_k = {id(p): float(_scalar(theirs.get("step", 0)))
                         for mine, theirs in zip(self.param_groups, groups)
                         for p in mine["params"]}
        try:
            super().load_state_dict(state_dict)
        finally:
            self._group_k = {}
        h = self._core.h  # the bias correction's t is the group's count (C: ADAOPT_STATE_K)
        for g, group in enumerate(self.param_groups):
            for cg in self._cgroups[g]:
                _a._check(_a._set_group_state(h, cg, _a._GROUP_KINDS["k"],
                                              float(_scalar(group.get("step", 0)))), h,
                          "load_state_dict")
        self._pull_group_steps()


def _set_shapes(opt, first):
    """The shapes of C tensors first, ... of two or more dimensions (Adafactor, Muon)."""
    for i in range(first, len(opt._cparams)):
        shape = tuple(opt._cparams[i].shape)
        if len(shape) >= 2:
            dims = (ctypes.c_size_t * len(shape))(*shape)
            _a._check(_a._set_shape(opt._core.h, i, dims, len(shape)), opt._core.h,
                      "add_param_group")


if hasattr(torch.optim, "Muon"):  # torch >= 2.9
    class Muon(_make("Muon", "muon")):
        """adaopt's Muon with torch.optim.Muon's interface (torch >= 2.9): 2-D float32
        parameters; the Newton-Schulz iteration in float32 (torch's: bf16)."""

        _probe_shape = (2, 2)

        def _add_c_groups(self, g, params):
            if self.param_groups[g].get("use_muon", True):
                for p in params:
                    if p.ndim != 2:  # (torch's check and words)
                        raise ValueError("Muon only supports 2D parameters whereas we found a "
                                         "parameter with size: %s" % (p.size(),))
            first = len(self._cparams)
            super()._add_c_groups(g, params)
            _set_shapes(self, first)

    class MuonWithAuxAdam(Muon):
        """Muon and AdamW in one optimizer, as the `muon` package's MuonWithAuxAdam: every
        group says use_muon.  True: torch.optim.Muon's step (2-D parameters; defaults lr 0.02,
        momentum 0.95, weight_decay 0); False: AdamW's (torch.optim.AdamW's arithmetic; defaults
        lr 3e-4, betas (0.9, 0.95), eps 1e-10, weight_decay 0) -- embeddings, biases, norms."""

        _MUON = {"lr": 0.02, "momentum": 0.95, "weight_decay": 0.0}
        _AUX = {"lr": 3e-4, "betas": (0.9, 0.95), "eps": 1e-10, "weight_decay": 0.0}

        def __init__(self, param_groups):
            groups = []
            for k, group in enumerate(param_groups):
                if not isinstance(group, dict) or "use_muon" not in group:
                    raise ValueError("param_groups[%d]: MuonWithAuxAdam takes groups that say "
                                     "use_muon=True or False" % k)
                full = dict(self._MUON if group["use_muon"] else self._AUX)
                full.update(group)
                groups.append(full)
            Muon.__init__(self, groups, lr=0.02, weight_decay=0.0)

        __init__.__signature__ = inspect.signature(lambda param_groups: None)

        def _aux_step(self, p):
            return any(q is p for g in self.param_groups if not g.get("use_muon", True)
                       for q in g["params"])

    __all__ += ["Muon", "MuonWithAuxAdam"]


if hasattr(torch.optim, "Adafactor"):  # torch >= 2.5
    class Adafactor(_make("Adafactor", "adafactor")):
        """adaopt's Adafactor with torch.optim.Adafactor's interface (torch >= 2.5): parameters of
        two or more dimensions keep their second moment factored over the last two (row_var,
        col_var), others keep variance; state dicts load both ways."""

        _c_pairs = staticmethod(_a.Adafactor._c_pairs)

        def __init__(self, params, *args, **kwargs):
            Optimizer.__init__(self, params, *args, **kwargs)
        __init__.__signature__ = _signature(torch.optim.Adafactor)

        def _add_c_groups(self, g, params):
            first = len(self._cparams)
            super()._add_c_groups(g, params)
            _set_shapes(self, first)

        def _state_shape(self, i, kind):  # torch's keepdim shapes of the factored moments
            shape = list(self._cparams[i].shape)
            if kind == _a._STATE_KINDS["row_var"]:
                shape[-1] = 1
            elif kind == _a._STATE_KINDS["col_var"]:
                shape[-2] = 1
            return shape
