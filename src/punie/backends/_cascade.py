"""Shared-prefix ("cascade") attention and the KV store it reads, for the in-process decode loop.

Why: every eval/serve row of a batch starts with the same ~400-token tool block. Copying its KV into
each row makes every decode step read it once per row (SDPA was ~30 % of a 40-row step on CPU).
Here the prefix KV is kept once per layer and attended by all queries of the batch in one
attention call (one KV head = one long query block); each row's own tokens (suffix + generated)
live in a per-slot store, attended separately; the two softmax parts are merged exactly through
their log-sum-exps. Rows are slots with their own fill pointer, so a finished row's slot can take
a new row (refill) without copying the others.

Prefill is packed: the new rows' suffix tokens go through the model as one unpadded sequence (the
linear layers see no padding); only the small suffix-to-suffix attention is done in a padded layout.
Extend appends a few tokens to one slot (speculative verification), multi a run of tokens to each of
several slots in one packed forward (jump-forward in a batch); rejected ones are rolled back by
lowering the slot's fill pointer.

The attention function is registered under its own name and used only while ``scoped`` has set it
on the model's config, for the backend's own forward calls; nothing else sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ATTN_NAME = "punie_cascade"
# architectures whose attention goes through transformers' attention interface with plain causal
# full attention and whose logits are a plain lm_head(hidden) (no softcap, no logit scaling)
SUPPORTED_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3"})
_registered = False


def _register() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface

    AttentionInterface.register(ATTN_NAME, cascade_attention)
    _registered = True


def base_causal_lm(model: Any) -> Any:
    """The transformers CausalLM under PEFT wrappers (LoRA layers stay injected in its modules)."""
    base = model
    while hasattr(base, "get_base_model") and base is not base.get_base_model():
        base = base.get_base_model()
    return base


def supports(model: Any, prefix_cache: Any) -> bool:
    """Whether ``model`` (and its prefix cache) can run the cascade path; others use the plain one."""
    base = base_causal_lm(model)
    config = getattr(base, "config", None)
    if config is None or getattr(config, "model_type", None) not in SUPPORTED_MODEL_TYPES:
        return False
    sliding = getattr(config, "sliding_window", None) and config.model_type == "mistral"
    if getattr(config, "use_sliding_window", False) or sliding:
        return False
    layer_types = getattr(config, "layer_types", None) or []
    if any(t != "full_attention" for t in layer_types):
        return False
    layers = getattr(prefix_cache, "layers", None)
    if not layers or not all(type(layer).__name__ == "DynamicLayer" for layer in layers):
        return False
    return hasattr(base, "get_decoder") and hasattr(base, "get_output_embeddings")


@contextmanager
def scoped(model: Any) -> Iterator[None]:
    """Use the cascade attention for forward calls of ``model`` made inside this block only."""
    _register()
    config = base_causal_lm(model).config
    old = config._attn_implementation
    config._attn_implementation = ATTN_NAME
    try:
        yield
    finally:
        config._attn_implementation = old


def cascade_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, scaling: float | None = None,
                      dropout: float = 0.0, **kwargs: Any) -> tuple[Any, None]:
    """AttentionInterface entry: the KV store passed as ``punie_kv`` does the work."""
    store = kwargs.get("punie_kv")
    if store is None:  # not one of our calls: behave as SDPA would
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    return store.attend(module.layer_idx, query, scale), None


def _flash_op() -> Any:
    import torch

    return getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def _attention(q: Any, k: Any, v: Any, scale: float, mask: Any = None, causal: bool = False) -> tuple[Any, Any]:
    """Softmax attention of one key block and its log-sum-exp: (out [..., L, d], lse [..., L]).

    On CPU this is torch's fused flash kernel (the one SDPA uses, which also returns the
    log-sum-exp; 2-5x faster than matmul + softmax here); elsewhere plain matmuls.
    ``mask`` is additive (0 / -inf); ``causal`` masks keys after the query's own position.
    """
    import torch

    flash = _flash_op() if q.device.type == "cpu" else None
    if flash is not None:
        out, lse = flash(q, k, v, is_causal=causal, attn_mask=mask, scale=scale)
        return out, lse
    s = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale
    if mask is not None:
        s = s + mask
    if causal:
        n = s.shape[-1]
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool, device=s.device).triu(1), float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    return torch.matmul(torch.exp(s - lse[..., None]), v.float()).to(q.dtype), lse


def _merge(a: tuple[Any, Any], b: tuple[Any, Any]) -> Any:
    """Attention over the union of two key blocks from each block's (out, lse)."""
    import torch

    (oa, la), (ob, lb) = a, b
    lse = torch.logaddexp(la, lb)
    out = oa.float() * torch.exp(la - lse)[..., None] + ob.float() * torch.exp(lb - lse)[..., None]
    return out.to(oa.dtype)


class CascadeKV:
    """One shared prefix KV per layer + ``slots`` rows of own KV, each filled up to ``fill[slot]``.

    Passed to the model both as its cache (``update`` stores the new K/V) and as ``punie_kv`` (the
    attention reads it back). ``begin_prefill`` / ``begin_step`` / ``begin_extend`` / ``begin_multi`` say what the next
    forward holds.
    """

    is_compileable = False

    def __init__(self, prefix_cache: Any, slots: int, capacity: int) -> None:
        import torch

        # everything in the values' dtype, the model's compute dtype: under bf16 autocast the rotary
        # embedding promotes keys to fp32 while values stay bf16 (and SDPA would compute in bf16)
        self.dtype = prefix_cache.layers[0].values.dtype
        self.prefix = [(layer.keys[0].to(self.dtype), layer.values[0]) for layer in prefix_cache.layers]  # [kvh, P, d]
        self.plen = self.prefix[0][0].shape[1]
        kvh, _, d = self.prefix[0][0].shape
        like = self.prefix[0][1]
        # zeros, not empty: masked keys get weight exactly 0, but 0 * NaN from uninitialised memory is NaN
        self.keys = [like.new_zeros((slots, kvh, capacity, d)) for _ in self.prefix]
        self.values = [like.new_zeros((slots, kvh, capacity, d)) for _ in self.prefix]
        self.fill = torch.zeros(slots, dtype=torch.long)
        self.capacity = capacity
        self._mode = ""
        self._plan: dict[str, Any] = {}

    # ---- what the next forward holds --------------------------------------------------------------
    def begin_prefill(self, slots: list[int], lengths: list[int]) -> Any:
        """Next forward: the new rows' tokens packed in one sequence; returns its position ids."""
        import torch

        device = self.keys[0].device
        slot_t = torch.tensor(slots, dtype=torch.long)
        lens = torch.tensor(lengths, dtype=torch.long)
        n, smax, total = len(slots), int(lens.max()), int(lens.sum())
        row_of_tok = torch.repeat_interleave(torch.arange(n), lens)
        starts = torch.cumsum(lens, 0) - lens
        j_of_tok = torch.arange(total) - starts[row_of_tok]
        j = torch.arange(smax)
        self._mode = "prefill"
        self._plan = {
            "slots": slot_t.to(device),
            "tok_slot": slot_t[row_of_tok].to(device),
            "tok_j": j_of_tok.to(device),
            "tok_pad": (row_of_tok * smax + j_of_tok).to(device),  # token → flat padded index
            # padded (row, j) → token (clamped; pad positions read any token and are masked/ignored)
            "pad_tok": (starts[:, None] + j[None, :]).clamp(max=total - 1).reshape(-1).to(device),
            "n": n,
            "smax": smax,
        }
        self.fill[slot_t] = lens
        return (self.plen + j_of_tok).view(1, -1).to(device)

    def begin_step(self, live: list[int]) -> Any:
        """Next forward: one token per slot, written at each slot's fill pointer; returns position ids.

        Only ``live`` slots advance; an idle slot rewrites its next free position (its output is
        ignored), so it never runs past the capacity sized for the rows it held.
        """
        import torch

        device = self.keys[0].device
        width = int(self.fill.max()) + 1
        self._mode = "step"
        self._plan = {
            "write": self.fill.to(device),
            "rows": torch.arange(len(self.fill), device=device),
            "width": width,
            "mask": torch.zeros(len(self.fill), 1, 1, width, dtype=self.keys[0].dtype).masked_fill(
                (torch.arange(width)[None, :] > self.fill[:, None])[:, None, None, :], float("-inf")).to(device),
        }
        positions = (self.plen + self.fill).view(-1, 1).to(device)
        step = torch.zeros_like(self.fill)
        step[live] = 1
        self.fill = self.fill + step
        return positions

    def begin_extend(self, slot: int, length: int) -> Any:
        """Next forward: ``length`` tokens of one slot appended at its fill pointer, causal among
        themselves; returns their position ids. ``rewind`` drops the ones that were rejected."""
        import torch

        device = self.keys[0].device
        start = int(self.fill[slot])
        width = start + length
        # query j sits at own position start + j and sees own keys 0 .. start + j
        hidden = torch.arange(width)[None, :] > (start + torch.arange(length))[:, None]
        self._mode = "extend"
        self._plan = {
            "slot": slot,
            "start": start,
            "width": width,
            "mask": torch.zeros(length, width, dtype=self.keys[0].dtype).masked_fill(hidden, float("-inf")).to(device),
        }
        self.fill[slot] = width
        return (self.plen + start + torch.arange(length)).view(1, -1).to(device)

    def begin_multi(self, slots: list[int], lengths: list[int]) -> Any:
        """Next forward: ``lengths[i]`` tokens appended to ``slots[i]`` at its fill pointer, all packed
        in one sequence (a decode step where rows bring forced tokens: jump-forward); each token sees
        its slot's earlier tokens and the ones before it in its run. Returns their position ids."""
        import torch

        device = self.keys[0].device
        slot_t = torch.tensor(slots, dtype=torch.long)
        lens = torch.tensor(lengths, dtype=torch.long)
        n, smax, total = len(slots), int(lens.max()), int(lens.sum())
        base = self.fill[slot_t]
        row_of_tok = torch.repeat_interleave(torch.arange(n), lens)
        starts = torch.cumsum(lens, 0) - lens
        j_of_tok = torch.arange(total) - starts[row_of_tok]
        own = base[row_of_tok] + j_of_tok  # each token's position among its slot's own tokens
        width = int((base + lens).max())
        j = torch.arange(smax)
        # padded (row, j): keys 0 .. base + j visible (pad queries see finite keys; their output is dropped)
        hidden = torch.arange(width)[None, None, :] > (base[:, None] + j[None, :])[:, :, None]
        self._mode = "multi"
        self._plan = {
            "slots": slot_t.to(device),
            "tok_slot": slot_t[row_of_tok].to(device),
            "tok_j": own.to(device),
            "tok_pad": (row_of_tok * smax + j_of_tok).to(device),
            "pad_tok": (starts[:, None] + j[None, :]).clamp(max=total - 1).reshape(-1).to(device),
            "n": n,
            "smax": smax,
            "width": width,
            "mask": torch.zeros(n, 1, smax, width, dtype=self.keys[0].dtype).masked_fill(hidden[:, None], float("-inf"))
            .to(device),
        }
        self.fill[slot_t] = base + lens
        return (self.plen + own).view(1, -1).to(device)

    def rewind(self, slot: int, fill: int) -> None:
        """Forget ``slot``'s tokens from position ``fill`` on (their KV is overwritten later)."""
        self.fill[slot] = fill

    def select(self, keep: list[int]) -> None:
        """Keep only these slots (in this order), dropping the others' KV."""
        import torch

        idx = torch.tensor(keep, dtype=torch.long)
        width = int(self.fill[idx].max()) if keep else 0
        dev_idx = idx.to(self.keys[0].device)
        for store in (self.keys, self.values):
            for i, buf in enumerate(store):
                new = buf.new_zeros((len(keep), *buf.shape[1:]))
                new[:, :, :width] = buf[dev_idx, :, :width]
                store[i] = new
        self.fill = self.fill[idx]

    # ---- cache protocol used by the model -----------------------------------------------------
    def update(self, key_states: Any, value_states: Any, layer_idx: int, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        p = self._plan
        kb, vb = self.keys[layer_idx], self.values[layer_idx]
        key_states, value_states = key_states.to(self.dtype), value_states.to(self.dtype)
        if self._mode in ("prefill", "multi"):  # [1, kvh, T, d] → slot rows at each token's own position
            kb[p["tok_slot"], :, p["tok_j"]] = key_states[0].transpose(0, 1)
            vb[p["tok_slot"], :, p["tok_j"]] = value_states[0].transpose(0, 1)
        elif self._mode == "extend":  # [1, kvh, t, d] → one slot at positions start..start+t-1
            kb[p["slot"], :, p["start"] : p["width"]] = key_states[0]
            vb[p["slot"], :, p["start"] : p["width"]] = value_states[0]
        else:  # [slots, kvh, 1, d] → each slot at its own fill pointer
            kb[p["rows"], :, p["write"]] = key_states[:, :, 0]
            vb[p["rows"], :, p["write"]] = value_states[:, :, 0]
        return key_states, value_states

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.plen + int(self.fill.max()) if len(self.fill) else self.plen

    # ---- attention ------------------------------------------------------------------------------
    def attend(self, layer: int, q: Any, scale: float) -> Any:
        """Attention output [batch, q_len, heads, head_dim] for ``q`` [batch, heads, q_len, head_dim]."""
        pk, pv = self.prefix[layer]
        kvh, _, d = pk.shape
        q = q.to(self.dtype)
        b, h, s, _ = q.shape
        g = h // kvh  # query heads per KV head: head i reads KV head i // g
        p = self._plan
        if self._mode == "step":  # q [slots, h, 1, d]
            qs = q.reshape(b, kvh, g, d)
            # all slots' queries of one KV head against its one prefix copy: [1, kvh, slots * g, d]
            qp = qs.transpose(0, 1).reshape(1, kvh, b * g, d)
            po, pl = _attention(qp, pk[None], pv[None], scale)
            pre = (po[0].view(kvh, b, g, d).transpose(0, 1), pl[0].view(kvh, b, g).transpose(0, 1))
            w = p["width"]
            own = _attention(qs, self.keys[layer][:, :, :w], self.values[layer][:, :, :w], scale, p["mask"])
            return _merge(pre, own).reshape(b, 1, h, d)  # [slots, kvh, g, d] → [slots, 1, h, d]
        if self._mode == "extend":  # q [1, h, t, d]: one slot's new tokens
            qe = q[0].reshape(1, kvh, g * s, d)  # rows ordered (query head in group, token)
            pre = _attention(qe, pk[None], pv[None], scale)
            w, slot = p["width"], p["slot"]
            mask = p["mask"].repeat(g, 1)[None, None]  # [1, 1, g * t, width]
            own = _attention(qe, self.keys[layer][slot : slot + 1, :, :w], self.values[layer][slot : slot + 1, :, :w],
                             scale, mask)
            return _merge(pre, own).view(h, s, d).transpose(0, 1).unsqueeze(0)
        # packed prefill (or multi: runs appended to filled slots): q [1, h, T, d]
        t = s
        pre = _attention(q[0].reshape(1, kvh, g * t, d), pk[None], pv[None], scale)
        n, smax = p["n"], p["smax"]
        # each row's own tokens, right-padded to [n, h, smax, d]: plain causal attention (prefill), or
        # over the slot's earlier tokens too (multi, with the mask)
        qpad = q[0][:, p["pad_tok"]].view(h, n, smax, d).transpose(0, 1)
        w = p["width"] if self._mode == "multi" else smax
        kb = self.keys[layer][p["slots"], :, :w].repeat_interleave(g, dim=1)
        vb = self.values[layer][p["slots"], :, :w].repeat_interleave(g, dim=1)
        if self._mode == "multi":
            oo, ol = _attention(qpad, kb, vb, scale, p["mask"])
        else:
            oo, ol = _attention(qpad, kb, vb, scale, causal=True)
        tok = p["tok_pad"]  # back to token order
        own = (oo.transpose(0, 1).reshape(h, n * smax, d)[:, tok].reshape(1, kvh, g * t, d),
               ol.transpose(0, 1).reshape(h, n * smax)[:, tok].reshape(1, kvh, g * t))
        return _merge(pre, own).view(h, t, d).transpose(0, 1).unsqueeze(0)
