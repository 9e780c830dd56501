"""A reference executor for Core ML ML programs on any OS: the saved .mlpackage's MIL ops run in PyTorch.

``MLModel.predict`` exists only on macOS, so Linux CI could not otherwise check a Core ML export numerically. The
package is loaded back with coremltools' milproto loader (the program exactly as saved, compression included) and
each op is evaluated in order; fp16 programs run in float16 (ops without CPU half kernels upcast, then round
back). It is a test oracle for the op set our exports use, not a Core ML reimplementation: an op it does not
know raises ``NotImplementedError`` naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MilProgram"]

_DTYPES = {"fp16": torch.float16, "fp32": torch.float32, "int32": torch.int32, "int64": torch.int64,
           "bool": torch.bool, "int8": torch.int8, "uint8": torch.uint8, "int16": torch.int16}


def _axes(a, rank):
    return [int(x) % rank for x in (a.tolist() if isinstance(a, torch.Tensor) else a)]


def _pad_same(x, kernel, strides, dilations, lower=False):
    pads = []
    for i, k in enumerate(kernel):
        size = x.shape[2 + i]
        eff = (k - 1) * dilations[i] + 1
        out = -(-size // strides[i])
        total = max(0, (out - 1) * strides[i] + eff - size)
        a, b = (total - total // 2, total // 2) if lower else (total // 2, total - total // 2)
        pads.append((a, b))
    flat = []
    for a, b in reversed(pads):
        flat += [a, b]
    return F.pad(x, flat)


def _spatial_pad(x, pad_type, pad, kernel, strides, dilations):
    n = len(kernel)
    if pad_type == "same":
        return _pad_same(x, kernel, strides, dilations)
    if pad_type == "same_lower":
        return _pad_same(x, kernel, strides, dilations, lower=True)
    if pad_type == "custom" and pad is not None:
        p = [int(v) for v in pad.tolist()]  # [d0_begin, d0_end, d1_begin, d1_end, ...]
        flat = []
        for i in reversed(range(n)):
            flat += [p[2 * i], p[2 * i + 1]]
        return F.pad(x, flat)
    return x


def _conv(x, weight, bias=None, strides=None, pad_type="valid", pad=None, dilations=None, groups=1):
    n = weight.dim() - 2
    strides = [int(s) for s in strides.tolist()] if strides is not None else [1] * n
    dil = [int(s) for s in dilations.tolist()] if dilations is not None else [1] * n
    x = _spatial_pad(x, pad_type, pad, list(weight.shape[2:]), strides, dil)
    fn = F.conv1d if n == 1 else F.conv2d
    return fn(x, weight, bias, strides, 0, dil, int(groups))


def _pool(kind):
    def run(x, kernel_sizes, strides, pad_type="valid", pad=None, exclude_padding_from_average=False, ceil_mode=False):
        k = [int(v) for v in kernel_sizes.tolist()]
        s = [int(v) for v in strides.tolist()]
        x = _spatial_pad(x, pad_type, pad, k, s, [1] * len(k))
        if kind == "max":
            return F.max_pool2d(x, k, s, ceil_mode=bool(ceil_mode))
        return F.avg_pool2d(x, k, s, ceil_mode=bool(ceil_mode))
    return run


def _slice(x, begin, end, stride=None, begin_mask=None, end_mask=None, squeeze_mask=None):
    idx = []
    for d in range(x.dim()):
        b, e = int(begin[d]), int(end[d])
        st = int(stride[d]) if stride is not None else 1
        if begin_mask is not None and bool(begin_mask[d]):
            b = None
        if end_mask is not None and bool(end_mask[d]):
            e = None
        if squeeze_mask is not None and bool(squeeze_mask[d]):
            idx.append(b if b is not None else 0)
            continue
        if st < 0:
            idx.append(torch.arange(x.shape[d])[slice(b, e, st)])  # rare; advanced indexing handles it
        else:
            idx.append(slice(b, e, st))
    return x[tuple(idx)]


def _reduce(fn):
    def run(x, axes=None, keep_dims=False):
        dims = _axes(axes, x.dim()) if axes is not None else list(range(x.dim()))
        return fn(x, dims, bool(keep_dims))
    return run


def _gather(x, indices, axis=0, batch_dims=0, validate_indices=False):
    axis = int(axis) % x.dim()
    if int(batch_dims) != 0:
        raise NotImplementedError("gather with batch_dims")
    out = torch.index_select(x, axis, indices.reshape(-1).long() % x.shape[axis])
    return out.reshape(*x.shape[:axis], *indices.shape, *x.shape[axis + 1 :])


def _concat(values, axis, interleave=False):
    if bool(interleave):
        raise NotImplementedError("concat with interleave")
    return torch.cat(list(values), int(axis))


def _matmul(x, y, transpose_x=False, transpose_y=False):
    if bool(transpose_x):
        x = x.transpose(-1, -2)
    if bool(transpose_y):
        y = y.transpose(-1, -2)
    return x @ y


def _split(x, num_splits=None, split_sizes=None, axis=0):
    axis = int(axis)
    if split_sizes is not None:
        return torch.split(x, [int(v) for v in split_sizes.tolist()], axis)
    return torch.chunk(x, int(num_splits), axis)


def _layer_norm(x, axes=None, gamma=None, beta=None, epsilon=1e-5):
    dims = tuple(_axes(axes, x.dim())) if axes is not None else tuple(range(x.dim()))
    mean = x.mean(dims, keepdim=True)
    y = (x - mean) * torch.rsqrt((x - mean).square().mean(dims, keepdim=True) + float(epsilon))
    return y * (1.0 if gamma is None else gamma) + (0.0 if beta is None else beta)


def _gelu(x, mode="EXACT"):
    if mode == "EXACT":
        return F.gelu(x)
    if mode == "TANH_APPROXIMATION":
        return F.gelu(x, approximate="tanh")
    return x * torch.sigmoid(1.702 * x)  # SIGMOID_APPROXIMATION


OPS = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "real_div": lambda x, y: x / y, "maximum": lambda x, y: torch.maximum(x, y), "minimum": lambda x, y: torch.minimum(x, y),
    "pow": lambda x, y: torch.pow(x, y), "floor_div": lambda x, y: torch.div(x, y, rounding_mode="floor"),
    "greater": lambda x, y: x > y, "less": lambda x, y: x < y, "greater_equal": lambda x, y: x >= y,
    "less_equal": lambda x, y: x <= y, "equal": lambda x, y: x == y, "not_equal": lambda x, y: x != y,
    "logical_and": lambda x, y: torch.logical_and(x, y), "logical_or": lambda x, y: torch.logical_or(x, y), "logical_not": lambda x: torch.logical_not(x),
    "select": lambda cond, a, b: torch.where(cond.bool(), a, b),
    "sin": lambda x: torch.sin(x), "cos": lambda x: torch.cos(x), "tanh": lambda x: torch.tanh(x), "sigmoid": lambda x: torch.sigmoid(x), "relu": lambda x: F.relu(x),
    "relu6": lambda x: F.relu6(x), "exp": lambda x: torch.exp(x), "log": lambda x: torch.log(x), "sqrt": lambda x: torch.sqrt(x), "rsqrt": lambda x: torch.rsqrt(x),
    "abs": lambda x: torch.abs(x), "square": lambda x: torch.square(x), "sign": lambda x: torch.sign(x), "floor": lambda x: torch.floor(x), "ceil": lambda x: torch.ceil(x),
    "round": lambda x: torch.round(x), "atanh": lambda x: torch.atanh(x), "atan": lambda x: torch.atan(x), "asin": lambda x: torch.asin(x), "acos": lambda x: torch.acos(x),
    "inverse": lambda x, epsilon=1e-4: 1.0 / (x + epsilon),
    "silu": lambda x: F.silu(x), "erf": lambda x: torch.erf(x),
    "sigmoid_hard": lambda x, alpha=0.2, beta=0.5: torch.clamp(alpha * x + beta, 0.0, 1.0),
    "thresholded_relu": lambda x, alpha=1.0: torch.where(x > alpha, x, torch.zeros_like(x)),
    "clip": lambda x, alpha, beta: torch.clamp(x, float(alpha), float(beta)),
    "identity": lambda x: x,
    "cast": lambda x, dtype: x.to(_DTYPES[str(dtype)]),
    "conv": _conv, "linear": lambda x, weight, bias=None: F.linear(x, weight, bias),
    "matmul": _matmul, "avg_pool": _pool("avg"), "max_pool": _pool("max"),
    "reduce_mean": _reduce(lambda x, d, k: x.mean(d, keepdim=k)),
    "reduce_sum": _reduce(lambda x, d, k: x.sum(d, keepdim=k)),
    "reduce_max": _reduce(lambda x, d, k: x.amax(d, keepdim=k)),
    "reduce_min": _reduce(lambda x, d, k: x.amin(d, keepdim=k)),
    "reduce_l2_norm": _reduce(lambda x, d, k: x.square().sum(d, keepdim=k).sqrt()),
    "reduce_sum_square": _reduce(lambda x, d, k: x.square().sum(d, keepdim=k)),
    "slice_by_index": _slice, "gather": _gather, "concat": _concat,
    "stack": lambda values, axis: torch.stack(list(values), int(axis)),
    "expand_dims": lambda x, axes: _expand(x, axes),
    "squeeze": lambda x, axes=None: x.squeeze() if axes is None else x.squeeze(tuple(_axes(axes, x.dim()))),
    "reshape": lambda x, shape: x.reshape([int(v) for v in shape.tolist()]),
    "transpose": lambda x, perm: x.permute([int(v) for v in perm.tolist()]),
    "tile": lambda x, reps: x.repeat([int(v) for v in reps.tolist()]),
    "split": _split,
    "softmax": lambda x, axis=-1: torch.softmax(x, int(axis)),
    "fill": lambda shape, value=0.0: torch.full([int(v) for v in shape.tolist()], float(value)),
    "fill_like": lambda ref_tensor, value=0.0: torch.full(
        ref_tensor.shape, float(value), dtype=value.dtype if isinstance(value, torch.Tensor) else ref_tensor.dtype),
    "shape": lambda x: torch.tensor(list(x.shape), dtype=torch.int32),
    "layer_norm": _layer_norm, "gelu": _gelu,
}


def _expand(x, axes):
    out = x
    rank = x.dim() + len(axes)
    for a in sorted(int(v) % rank for v in axes.tolist()):
        out = out.unsqueeze(a)
    return out


def _tensor(value) -> torch.Tensor | object:
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        return str(arr)
    return torch.from_numpy(np.ascontiguousarray(arr))


class MilProgram:
    """Load ``path`` (.mlpackage) and run its ``main`` function: ``run({name: array}) -> {name: array}``."""

    def __init__(self, path: str | Path):
        import coremltools as ct
        from coremltools.converters.mil.frontend.milproto.load import load

        path = Path(path)
        spec = ct.utils.load_spec(str(path))
        weights = path / "Data" / "com.apple.CoreML" / "weights"
        self.program = load(spec, spec.specificationVersion, file_weights_dir=str(weights))
        self.function = self.program.functions["main"]
        self.input_names = list(self.function.inputs)
        self.output_names = [v.name for v in self.function.outputs]
        self.spec = spec

    def _value(self, var, env):
        if var.name in env:
            return env[var.name]
        if var.val is not None:
            value = _tensor(var.val)
            env[var.name] = value
            return value
        raise KeyError(f"MIL variable '{var.name}' has no value")

    @torch.no_grad()
    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env: dict[str, object] = {}
        for name, var in self.function.inputs.items():
            env[name] = torch.as_tensor(np.asarray(feeds[name])).to(_DTYPES.get(str(var.dtype.__name__), None)
                                                                     or torch.float32)
        for op in self.function.operations:
            if op.op_type == "const" or op.op_type.startswith("constexpr_"):
                for out in op.outputs:
                    val = out.val if out.val is not None else op.materialized_val_inference()
                    env[out.name] = _tensor(val)
                continue
            fn = OPS.get(op.op_type)
            if fn is None:
                raise NotImplementedError(f"the MIL reference executor has no '{op.op_type}' op (in {op.name})")
            kwargs = {}
            for key, var in op.inputs.items():
                kwargs[key] = tuple(self._value(v, env) for v in var) if isinstance(var, (list, tuple)) else \
                    self._value(var, env)
            result = _call(fn, kwargs)
            results = result if isinstance(result, (list, tuple)) else (result,)
            for out, value in zip(op.outputs, results):
                env[out.name] = value
        return {v.name: env[v.name].float().numpy() if env[v.name].is_floating_point() else env[v.name].numpy()
                for v in self.function.outputs}


def _call(fn, kwargs):
    try:
        return fn(**kwargs)
    except RuntimeError as exc:
        if "Half" not in str(exc):
            raise
        # no CPU half kernel: compute in fp32 and round back, which is what an fp16 device result looks like
        up = {k: (v.float() if isinstance(v, torch.Tensor) and v.dtype == torch.float16 else
                  tuple(t.float() if isinstance(t, torch.Tensor) and t.dtype == torch.float16 else t for t in v)
                  if isinstance(v, tuple) else v) for k, v in kwargs.items()}
        out = fn(**up)
        return tuple(o.half() for o in out) if isinstance(out, (list, tuple)) else out.half()
