"""Temporal heads on per-frame outputs: causal streaming heads with explicit state, and D3KE's offline baseline.

Every head maps the per-frame parameter vector x_t = [rot6d, p] (B, T, D) to a correction; ``refine`` applies it
(rot6d + d, tanh(atanh(p) + d)) so the refined output goes through the same bounded mapping and FK.

Causal heads have two forms sharing one state_dict (as VideoPose3D's TemporalModel / TemporalModelOptimized1f):
- ``forward(x)`` on a whole sequence (training),
- ``step(x_t, *state) -> (y_t, *new_state)`` one frame at a time with explicit state tensors (deployment), where
  ``init_state(batch)`` gives the state after a reset. Step-by-step equals the sequence form (tested to 1e-5).
"""

from __future__ import annotations

import torch
from torch import nn

from .kinematic_space import KinematicSpace
from .registry import register_model

__all__ = ["CausalTCN", "CausalGRU", "CausalWindowTransformer", "CentreFrameTransformer"]

refine = KinematicSpace.refine  # the parameter layout is the space's


class CausalTCN(nn.Module):
    """Dilated causal convolutions with residuals; the step form keeps one FIFO per layer as state.

    State i is (B, channels, (kernel-1) * dilation_i): the layer's last inputs. Each step concatenates the new
    column and drops the oldest (no gather/scatter), which converts to every target (stack.md).
    """

    causal = True

    def __init__(self, dim: int, channels: int = 128, kernel: int = 3, dilations: tuple[int, ...] = (1, 2, 4, 8)):
        super().__init__()
        self.dim, self.channels, self.kernel, self.dilations = dim, channels, kernel, tuple(dilations)
        self.inp = nn.Conv1d(dim, channels, 1)
        self.layers = nn.ModuleList(nn.Conv1d(channels, channels, kernel, dilation=d) for d in self.dilations)
        self.out = nn.Conv1d(channels, dim, 1)
        nn.init.zeros_(self.out.weight)  # starts as the identity refinement
        nn.init.zeros_(self.out.bias)

    def receptive_field(self) -> int:
        return 1 + sum((self.kernel - 1) * d for d in self.dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> refined (B, T, D)."""
        h = self.inp(x.transpose(1, 2))  # (B, C, T)
        for conv, d in zip(self.layers, self.dilations):
            padded = nn.functional.pad(h, ((self.kernel - 1) * d, 0))  # zeros before the first frame = reset state
            h = h + torch.relu(conv(padded))
        return refine(x, self.out(h).transpose(1, 2))

    def state_shapes(self, batch: int = 1) -> list[tuple[int, ...]]:
        return [(batch, self.channels, (self.kernel - 1) * d) for d in self.dilations]

    def init_state(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        w = self.inp.weight
        return tuple(torch.zeros(s, dtype=w.dtype, device=w.device) for s in self.state_shapes(batch))

    def step(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x (B, D), state per layer -> (refined (B, D), *new state)."""
        h = self.inp(x.unsqueeze(-1))  # (B, C, 1)
        new_state = []
        for conv, buf in zip(self.layers, state):
            window = torch.cat([buf, h], -1)  # (B, C, (k-1)d + 1)
            new_state.append(window[:, :, 1:])
            h = h + torch.relu(conv(window))
        return (refine(x, self.out(h)[..., 0]), *new_state)


class CausalGRU(nn.Module):
    """A GRU cell written with Linear/sigmoid/tanh (no nn.GRU: it does not convert everywhere); state (B, H)."""

    causal = True

    def __init__(self, dim: int, hidden: int = 128):
        super().__init__()
        self.dim, self.hidden = dim, hidden
        self.x2h = nn.Linear(dim, 3 * hidden)
        self.h2h = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def receptive_field(self) -> int:
        return 0  # unbounded (recurrent)

    def _cell(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        gx, gh = self.x2h(x), self.h2h(h)
        xr, xz, xn = gx.chunk(3, -1)
        hr, hz, hn = gh.chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1.0 - z) * n + z * h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.init_state(x.shape[0])[0]
        outs = []
        for t in range(x.shape[1]):
            h = self._cell(x[:, t], h)
            outs.append(self.out(h))
        return refine(x, torch.stack(outs, 1))

    def state_shapes(self, batch: int = 1) -> list[tuple[int, ...]]:
        return [(batch, self.hidden)]

    def init_state(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        w = self.x2h.weight
        return (torch.zeros(batch, self.hidden, dtype=w.dtype, device=w.device),)

    def step(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self._cell(x, h)
        return refine(x, self.out(h)), h


class CausalWindowTransformer(nn.Module):
    """Causal self-attention over the last ``window`` frames; the step form keeps a rolling key/value cache.

    Pre-norm transformer layers whose attention sees frames t-window+1 .. t only, with a learned bias per head
    and frame offset instead of absolute positions (so a frame's output does not depend on when the stream
    started, and the cache needs no position counter). State, per layer: keys and values of the previous
    window-1 frames (B, heads, window-1, d_head), oldest first; plus one validity row (B, window-1) that is 1 for
    filled slots. All zeros is the reset state: empty slots are masked out, exactly as frames before the start
    of a sequence are in the sequence form. Each step appends the new column and drops the oldest, like the TCN's
    FIFOs (concat and slice only, no scatter).
    """

    causal = True
    _MASKED = -1e9  # added to the logits of empty or out-of-window slots: exp() is exactly 0 in float32

    def __init__(self, dim: int, window: int = 30, d_model: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        if window < 2 or d_model % heads:
            raise ValueError(f"need window >= 2 and d_model divisible by heads, got {window}, {d_model}, {heads}")
        self.dim, self.window, self.d_model, self.heads, self.n_layers = dim, window, d_model, heads, layers
        self.d_head = d_model // heads
        self.embed = nn.Linear(dim, d_model)
        self.norm1 = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(layers))
        self.qkv = nn.ModuleList(nn.Linear(d_model, 3 * d_model) for _ in range(layers))
        self.proj = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(layers))
        self.norm2 = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(layers))
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Linear(2 * d_model, d_model))
                                 for _ in range(layers))
        # bias[l, h, j]: slot j of the window (0 oldest, window-1 the current frame), i.e. offset window-1-j
        self.bias = nn.Parameter(torch.zeros(layers, heads, window))
        self.out = nn.Linear(d_model, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def receptive_field(self) -> int:
        return self.n_layers * (self.window - 1) + 1

    def _split(self, x: torch.Tensor) -> torch.Tensor:  # (..., T, d_model) -> (..., heads, T, d_head)
        return x.unflatten(-1, (self.heads, self.d_head)).transpose(-3, -2)

    def _merge(self, x: torch.Tensor) -> torch.Tensor:  # (..., heads, T, d_head) -> (..., T, d_model)
        return x.transpose(-3, -2).flatten(-2)

    def _attend(self, q, k, v, logit_bias):
        w = torch.softmax(q @ k.transpose(-1, -2) * self.d_head**-0.5 + logit_bias, -1)
        return w @ v

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> refined (B, T, D)."""
        T = x.shape[1]
        t = torch.arange(T, device=x.device)
        offset = t[:, None] - t[None, :]  # (T, T): query frame - key frame
        inside = (offset >= 0) & (offset < self.window)
        slot = (self.window - 1 - offset).clamp(0, self.window - 1)
        h = self.embed(x)
        for l in range(self.n_layers):
            q, k, v = (self._split(z) for z in self.qkv[l](self.norm1[l](h)).chunk(3, -1))
            logit_bias = torch.where(inside, self.bias[l][:, slot], self._MASKED)  # (heads, T, T)
            h = h + self.proj[l](self._merge(self._attend(q, k, v, logit_bias)))
            h = h + self.mlp[l](self.norm2[l](h))
        return refine(x, self.out(h))

    def state_shapes(self, batch: int = 1) -> list[tuple[int, ...]]:
        kv = (batch, self.heads, self.window - 1, self.d_head)
        return [kv] * (2 * self.n_layers) + [(batch, self.window - 1)]

    def init_state(self, batch: int = 1) -> tuple[torch.Tensor, ...]:
        w = self.embed.weight
        return tuple(torch.zeros(s, dtype=w.dtype, device=w.device) for s in self.state_shapes(batch))

    def step(self, x: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """x (B, D), (keys, values) per layer and the validity row -> (refined (B, D), *new state)."""
        valid = torch.cat([state[-1], torch.ones_like(state[-1][:, :1])], -1)  # (B, window): slots incl. current
        logit_mask = ((1.0 - valid) * self._MASKED)[:, None, None, :]  # (B, 1, 1, window)
        h = self.embed(x)[:, None]  # (B, 1, d_model)
        new_state = []
        for l in range(self.n_layers):
            q, k, v = (self._split(z) for z in self.qkv[l](self.norm1[l](h)).chunk(3, -1))  # (B, heads, 1, d_head)
            keys = torch.cat([state[2 * l], k], -2)  # (B, heads, window, d_head)
            values = torch.cat([state[2 * l + 1], v], -2)
            new_state += [keys[:, :, 1:], values[:, :, 1:]]
            logit_bias = self.bias[l][None, :, None, :] + logit_mask  # (B, heads, 1, window)
            h = h + self.proj[l](self._merge(self._attend(q, keys, values, logit_bias)))
            h = h + self.mlp[l](self.norm2[l](h))
        return (refine(x, self.out(h[:, 0])), *new_state, valid[:, 1:])


class CentreFrameTransformer(nn.Module):
    """D3KE's server temporal stage: a window of ``window`` frames predicts its centre frame (non-causal).

    It needs (window - 1) / 2 frames of future video (121 frames = 4 s at 30 fps for the default 243), so it
    cannot stream; it is the offline accuracy reference the causal heads are compared with.
    """

    causal = False

    def __init__(self, dim: int, window: int = 243, d_model: int = 256, heads: int = 8, layers: int = 3):
        super().__init__()
        if window % 2 == 0:
            raise ValueError(f"window must be odd (a centre frame), got {window}")
        self.dim, self.window = dim, window
        self.embed = nn.Linear(dim, d_model)
        self.pos = nn.Parameter(torch.zeros(1, window, d_model))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(d_model, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def receptive_field(self) -> int:
        return self.window

    @property
    def lookahead(self) -> int:
        return self.window // 2

    def forward_window(self, x: torch.Tensor) -> torch.Tensor:
        """(B, window, D) -> refined centre frame (B, D)."""
        h = self.encoder(self.embed(x) + self.pos)
        c = self.window // 2
        return refine(x[:, c], self.out(h[:, c]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, D): every frame as a window centre, edges padded by repeating the end frames."""
        half = self.window // 2
        padded = torch.cat([x[:, :1].expand(-1, half, -1), x, x[:, -1:].expand(-1, half, -1)], 1)
        windows = padded.unfold(1, self.window, 1).permute(0, 1, 3, 2)  # (B, T, window, D)
        B, T = windows.shape[:2]
        return self.forward_window(windows.reshape(B * T, self.window, -1)).view(B, T, -1)


@register_model("tcn_causal")
def tcn_causal(dim: int, channels: int = 128, kernel: int = 3, dilations: tuple[int, ...] = (1, 2, 4, 8)) -> CausalTCN:
    return CausalTCN(dim, channels, kernel, tuple(dilations))


@register_model("gru_causal")
def gru_causal(dim: int, hidden: int = 128) -> CausalGRU:
    return CausalGRU(dim, hidden)


@register_model("transformer_causal")
def transformer_causal(dim: int, window: int = 30, d_model: int = 64, heads: int = 4,
                       layers: int = 2) -> CausalWindowTransformer:
    return CausalWindowTransformer(dim, window, d_model, heads, layers)


@register_model("transformer_centre243")
def transformer_centre243(dim: int, window: int = 243, d_model: int = 256, heads: int = 8,
                          layers: int = 3) -> CentreFrameTransformer:
    return CentreFrameTransformer(dim, window, d_model, heads, layers)
