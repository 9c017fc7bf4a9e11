"""CPython as an oracle for the globals a pickle makes the unpickler look
up, without importing or calling anything.

find_class is overridden to record (module, name) and return an inert
stand-in class: calling it, reading attributes, BUILD, APPEND, SETITEM all
return more stand-ins. Nothing is imported, nothing real is called. The C
unpickler (pickle.Unpickler) is used, as torch.load and pickle.load do,
except for sparse memo indexes (PyRecorder).
Python 2 name mapping is applied by the default find_class only; the
recorder sees raw names, so callers compare against both raw and mapped.
"""
import _compat_pickle
import io
import pickle
import pickletools


class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _new_standin(f"{cls.__name__}.{name}")

    def __call__(cls, *args, **kwargs):
        return type.__call__(cls)


def _new_standin(label):
    return _Meta(label, (StandIn,), {})


class StandIn:
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _new_standin(name)

    def __call__(self, *args, **kwargs):
        return StandIn()

    def __iter__(self):
        raise TypeError("a stand-in is not iterable")

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def __getitem__(self, key):
        return StandIn()

    def append(self, x):
        pass

    def extend(self, xs):
        pass

    def add(self, x):
        pass


class _Recording:
    def __init__(self, f):
        super().__init__(f)
        self.seen = []

    def find_class(self, module, name):
        self.seen.append((module, name))
        return _new_standin(f"{module}.{name}")

    def persistent_load(self, pid):
        return StandIn()


class Recorder(_Recording, pickle.Unpickler):
    pass


def _c_checks(opcode, base):
    """Wrap a pure-Python opcode handler with the argument type checks the
    C unpickler makes before calling (pickle.py spreads *args and **kwargs
    instead: over a stand-in, an endless iteration)."""
    def handler(self):
        st = self.stack
        if opcode == pickle.REDUCE:
            ok = isinstance(st[-1], tuple)
        elif opcode == pickle.NEWOBJ:
            ok = isinstance(st[-1], tuple) and isinstance(st[-2], type)
        else:  # NEWOBJ_EX
            ok = (isinstance(st[-1], dict) and isinstance(st[-2], tuple) and
                  isinstance(st[-3], type))
        if not ok:
            raise pickle.UnpicklingError("argument types the C unpickler "
                                         "refuses")
        return base(self)
    return handler


class PyRecorder(_Recording, pickle._Unpickler):
    """The pure-Python unpickler: same find_class calls, but a dict memo.
    The C unpickler sizes its memo array by the largest index PUT, so one
    LONG_BINPUT of 3e8 costs it gigabytes (and the oracle minutes).
    REDUCE, NEWOBJ and NEWOBJ_EX check their arguments as the C one does.
    It can still go on where the C one raises (on 5,000 generated pickles
    its lookups began with the C one's in every case and were longer in 90):
    a stricter expectation, never a weaker one."""
    dispatch = dict(pickle._Unpickler.dispatch)
    for _op in (pickle.REDUCE, pickle.NEWOBJ, pickle.NEWOBJ_EX):
        dispatch[_op[0]] = _c_checks(_op, pickle._Unpickler.dispatch[_op[0]])
    del _op


# Memo indexes from which the pure-Python unpickler is used.
SPARSE_MEMO = 1 << 20


def _max_memo_index(data):
    top = -1
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("PUT", "BINPUT", "LONG_BINPUT") and \
                    isinstance(arg, int):
                top = max(top, arg)
    except Exception:  # noqa: BLE001 - broken streams: what came before
        pass
    return top


def mapped(module, name):
    """The names CPython's find_class uses for protocol < 3."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    if module in _compat_pickle.IMPORT_MAPPING:
        return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


def globals_looked_up(data):
    """(globals, error): every (module, name) find_class received, in
    order, and the exception that ended the load (None if it completed).
    Only the first pickle of data is loaded, as pickle.loads does."""
    cls = PyRecorder if _max_memo_index(data) >= SPARSE_MEMO else Recorder
    r = cls(io.BytesIO(data))
    err = None
    try:
        r.load()
    except RecursionError as e:
        err = e
    except Exception as e:  # noqa: BLE001 - any error ends the stream
        err = e
    return r.seen, err
