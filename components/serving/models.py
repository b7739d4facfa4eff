"""Model catalog: the architecture numbers the memory plan needs, as data.

Figures are from the models' `config.json` on Hugging Face (swiss-ai/Apertus-8B-2509 and
swiss-ai/Apertus-70B-2509: num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
hidden_size, intermediate_size, vocab_size, tie_word_embeddings, max_position_embeddings,
hidden_act "xielu" with a non-gated up/down MLP; as
summarised in shared/reference/apertus-and-vllm.md); the parameter counts follow from them
(8B: 32 x 218.1 M + 2 x 537 M embeddings = 8.05 B).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ConfigError
from .vllm_choices import TOOL_CALL_PARSERS

# bytes per parameter / per KV element for the dtypes a custom model may declare
DTYPE_BYTES = {"bfloat16": 2, "float16": 2}
QUANTIZATIONS = ("none", "fp8")  # --quantization: none, or vLLM's on-the-fly FP8 weights
KV_CACHE_DTYPES = ("auto", "fp8")  # --kv-cache-dtype: the model's dtype, or FP8 (1 byte)

# Defaults for a custom model that leaves these out. Each errs on the side of less KV cache: a
# larger vocabulary or MLP only raises the profile run's activation peak in the plan.
DEFAULT_VOCAB_SIZE = 256_000  # the largest vocabulary of common open models (Gemma)
DEFAULT_MLP_RATIO = 6  # intermediate_size / hidden_size; Llama 3 uses 3.5, Qwen2 5.3
# A gated MLP (SwiGLU: Llama, Qwen, Mistral; vLLM's MergedColumnParallelLinear gate_up_proj) holds
# 2 x intermediate_size outputs plus the activation's intermediate_size product at its peak; a
# non-gated one (Apertus: up_proj -> xIELU -> down_proj, hidden_act "xielu"; vLLM
# model_executor/models/apertus.py ApertusMLP) holds 1 x plus 1 x. The default is the gated one,
# the larger: a custom model that leaves it out never gets more KV room than its real MLP gives.
DEFAULT_GATED_MLP = True


@dataclass(frozen=True)
class ModelSpec:
    """One servable model. ``hf_id`` is also the name clients put in ``"model"``."""

    hf_id: str
    params_billion: float
    layers: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    max_context: int
    gated: bool = True
    dtype: str = "bfloat16"
    tool_call_parser: str | None = None
    image: str | None = None
    # config.json figures for the profile run's activation peak; None: the documented defaults
    hidden_size: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    tie_word_embeddings: bool = False
    gated_mlp: bool = DEFAULT_GATED_MLP  # config.json hidden_act: silu (gated) or xielu (not)
    # a base (pretrained, not instruction-tuned) model: the catalog name of its instruct variant
    instruct_variant: str | None = None

    @property
    def base_model_note(self) -> str | None:
        """What serving a base model means for chat, and the model to use instead; None otherwise."""
        if self.instruct_variant is None:
            return None
        return (f"base model, not instruction-tuned: chat answers will be poor; for chat use model "
                f"{self.instruct_variant}")

    @property
    def mlp_activation_widths(self) -> int:
        """intermediate_size-wide bf16 tensors the MLP holds at its peak: 3 gated, 2 not."""
        return 3 if self.gated_mlp else 2

    @property
    def bytes_per_param(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def hidden(self) -> int:
        return self.hidden_size or self.attention_heads * self.head_dim  # true for Llama, Qwen2, Apertus

    @property
    def intermediate(self) -> int:
        return self.intermediate_size or DEFAULT_MLP_RATIO * self.hidden

    @property
    def vocab(self) -> int:
        return self.vocab_size or DEFAULT_VOCAB_SIZE

    @property
    def embedding_params(self) -> float:
        """Input embedding plus, unless tied, the LM head: the parameters FP8 leaves in bf16."""
        return min(self.vocab * self.hidden * (1 if self.tie_word_embeddings else 2),
                   self.params_billion * 1e9)

    @property
    def weight_bytes(self) -> float:
        return self.weight_bytes_for("none")

    def weight_bytes_for(self, quantization: str) -> float:
        """Weight memory; FP8 stores every Linear layer in 1 byte and leaves the embedding and LM
        head in the model's dtype (vLLM docs, FP8 "online dynamic quantization": all Linear
        modules except the final lm_head)."""
        params = self.params_billion * 1e9
        if quantization == "fp8":
            return (params - self.embedding_params) + self.embedding_params * self.bytes_per_param
        return params * self.bytes_per_param

    @property
    def kv_bytes_per_token(self) -> int:
        return self.kv_bytes_per_token_for("auto")

    def kv_bytes_per_token_for(self, kv_cache_dtype: str) -> int:
        # K and V, for every layer and KV head, head_dim elements each
        element = 1 if kv_cache_dtype == "fp8" else self.bytes_per_param
        return 2 * self.layers * self.kv_heads * self.head_dim * element


_APERTUS_8B = dict(params_billion=8.05, layers=32, attention_heads=32, kv_heads=8, head_dim=128,
                   max_context=65536, tool_call_parser="apertus", hidden_size=4096,
                   intermediate_size=21504, vocab_size=131072, tie_word_embeddings=False,
                   gated_mlp=False)
_APERTUS_70B = dict(params_billion=70.6, layers=80, attention_heads=64, kv_heads=8, head_dim=128,
                    max_context=65536, tool_call_parser="apertus", hidden_size=8192,
                    intermediate_size=43008, vocab_size=131072, tie_word_embeddings=False,
                    gated_mlp=False)

# The -2509 repos without "Instruct" are the pretrained base models of the Instruct ones, which are the
# ones post-trained for chat (shared/reference/apertus-and-vllm.md, "Models"); served for completions or
# evaluation, and marked so the plan and `pulumi up` say so to whoever picks one for chat
MODELS: dict[str, ModelSpec] = {
    "apertus-8b-instruct": ModelSpec("swiss-ai/Apertus-8B-Instruct-2509", **_APERTUS_8B),
    "apertus-8b": ModelSpec("swiss-ai/Apertus-8B-2509", **_APERTUS_8B,
                            instruct_variant="apertus-8b-instruct"),
    "apertus-70b-instruct": ModelSpec("swiss-ai/Apertus-70B-Instruct-2509", **_APERTUS_70B),
    "apertus-70b": ModelSpec("swiss-ai/Apertus-70B-2509", **_APERTUS_70B,
                             instruct_variant="apertus-70b-instruct"),
}
DEFAULT_MODEL = "apertus-8b-instruct"

# camelCase config field -> (ModelSpec field, type)
_CUSTOM_FIELDS: dict[str, tuple[str, type]] = {
    "id": ("hf_id", str),
    "paramsBillion": ("params_billion", float),
    "layers": ("layers", int),
    "attentionHeads": ("attention_heads", int),
    "kvHeads": ("kv_heads", int),
    "headDim": ("head_dim", int),
    "maxContext": ("max_context", int),
}
_CUSTOM_OPTIONAL: dict[str, tuple[str, type]] = {
    "image": ("image", str),
    "dtype": ("dtype", str),
    "gated": ("gated", bool),
    "toolCallParser": ("tool_call_parser", str),
    "hiddenSize": ("hidden_size", int),
    "intermediateSize": ("intermediate_size", int),
    "vocabSize": ("vocab_size", int),
    "tieWordEmbeddings": ("tie_word_embeddings", bool),
    "gatedMlp": ("gated_mlp", bool),
}


def resolve_model(value: str | Mapping[str, Any] | None) -> ModelSpec:
    """A catalog name, the Hugging Face id of a catalog model, or a custom-model object."""
    if value is None:
        return MODELS[DEFAULT_MODEL]
    if isinstance(value, str):
        if value in MODELS:
            return MODELS[value]
        for spec in MODELS.values():
            if spec.hf_id.lower() == value.lower():
                return spec
        close = closest_model(value)
        hint = f"did you mean '{close}'? " if close else ""
        raise ConfigError("model", value, "is not a catalog model",
                          f"{hint}use one of {', '.join(MODELS)}, their Hugging Face ids "
                          f"({', '.join(spec.hf_id for spec in MODELS.values())}), or for another model an "
                          "object {id, paramsBillion, layers, attentionHeads, kvHeads, headDim, maxContext}",
                          args_fix=f"{hint}use one of {', '.join(MODELS)}, their Hugging Face ids "
                          f"({', '.join(spec.hf_id for spec in MODELS.values())}), or for another model a "
                          "dict {id, paramsBillion, layers, attentionHeads, kvHeads, headDim, maxContext} or "
                          "a ModelSpec")
    if isinstance(value, Mapping):
        return _custom_model(value)
    raise ConfigError("model", value, "must be a catalog name or an object",
                      f"use one of {', '.join(MODELS)}")


def closest_model(value: str) -> str | None:
    """The catalog name or Hugging Face id nearest a misspelt one, spelt the catalog's way
    (``swiss-ai/Apertus-8B-Instruct`` -> ``swiss-ai/Apertus-8B-Instruct-2509``), or None."""
    spellings = {name: name for name in MODELS} | {spec.hf_id.lower(): spec.hf_id for spec in MODELS.values()}
    close = difflib.get_close_matches(value.strip().lower(), spellings, n=1, cutoff=0.75)
    return spellings[close[0]] if close else None


_KIND_NAMES = {int: "a whole number", float: "a number", str: "text", bool: "true or false"}
_KIND_EXAMPLES = {int: "32", float: "8.05", str: '"bfloat16"', bool: "true"}
_KIND_PYTHON = {int: "an int, like 32", float: "a float, like 8.05", str: "a str, like 'bfloat16'",
                bool: "True or False"}


def _custom_model(value: Mapping[str, Any]) -> ModelSpec:
    known = set(_CUSTOM_FIELDS) | set(_CUSTOM_OPTIONAL)
    unknown = sorted(set(value) - known)
    if unknown:
        raise ConfigError(f"model.{unknown[0]}", value[unknown[0]], "unknown field",
                          f"custom model fields are {', '.join(sorted(known))}")
    missing = [key for key in _CUSTOM_FIELDS if key not in value]
    if missing:
        raise ConfigError(f"model.{missing[0]}", None, "is required for a custom model",
                          "give all of " + ", ".join(_CUSTOM_FIELDS))
    fields: dict[str, Any] = {"gated": False}  # a custom model is public unless it says so
    for key, (field, kind) in {**_CUSTOM_FIELDS, **_CUSTOM_OPTIONAL}.items():
        if key not in value:
            continue
        raw = value[key]
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            raw = float(raw)
        # the component provider hands other languages' numbers over as floats (protobuf has one
        # number type): 32.0 is the whole number 32, 32.5 stays refused below
        if kind is int and isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
            raise ConfigError(f"model.{key}", raw, f"must be {_KIND_NAMES[kind]}",
                              f"write it like {_KIND_EXAMPLES[kind]}, without quotes"
                              if kind is not str else f"quote it, like {_KIND_EXAMPLES[kind]}",
                              args_fix=f"pass {_KIND_PYTHON[kind]}")
        if kind in (int, float) and raw <= 0:
            raise ConfigError(f"model.{key}", raw, "must be above 0",
                              "copy the figure from the model's config.json on Hugging Face")
        fields[field] = raw
    spec = ModelSpec(**fields)
    if spec.tool_call_parser is not None and spec.tool_call_parser not in TOOL_CALL_PARSERS:
        close = difflib.get_close_matches(spec.tool_call_parser, TOOL_CALL_PARSERS, n=1)
        raise ConfigError("model.toolCallParser", spec.tool_call_parser,
                          "is not a tool call parser of the pinned vLLM, which would refuse to start",
                          f"did you mean '{close[0]}'?" if close else
                          f"use one of {', '.join(TOOL_CALL_PARSERS[:8])}, ... (vllm serve --help=all)")
    if spec.dtype not in DTYPE_BYTES:
        raise ConfigError("model.dtype", spec.dtype, "not a supported dtype",
                          f"use one of {', '.join(DTYPE_BYTES)}")
    if spec.attention_heads % spec.kv_heads:
        raise ConfigError("model.kvHeads", spec.kv_heads, "must divide attentionHeads "
                          f"({spec.attention_heads})", "check the model's config.json")
    return spec
