"""Choices the pinned vLLM's own flags accept, copied from its `vllm serve --help=all`.

The source is tests/fixtures/vllm-serve-help-0.33.0.txt (vllm==0.33.0, the DEFAULT_IMAGE pin);
tests/test_guardrails.py fails when this table and the fixture disagree, so a new pin brings a
new table. A custom model's toolCallParser must be one of these: vLLM refuses any other at start,
after the GPU machine is already paid for.
"""

from __future__ import annotations

TOOL_CALL_PARSERS = (
    "apertus", "beam", "cohere_command3", "cohere_command4", "deepseek_v3", "deepseek_v31", "deepseek_v32",
    "deepseek_v4", "deepseek_v41", "dots", "ernie45", "functiongemma", "gemma4", "gigachat3", "glm45",
    "glm47", "granite", "granite-20b-fc", "granite4", "hermes", "hf", "hunyuan_a13b", "hy_v3", "hy_v4",
    "inkling", "internlm", "jamba", "k2_horizon", "kimi_k2", "kimi_k3", "lfm2", "ling3", "llama3_json",
    "llama4_json", "llama4_pythonic", "longcat", "mimo", "minicpm5", "minimax_m2", "minimax_m3", "mistral",
    "muse", "muse_glimmer", "musespark1x", "olmo3", "openai", "phi4_mini_json", "plamo3", "poolside_v1",
    "pythonic", "qwen3_coder", "qwen3_json", "qwen3_xml", "seed_oss", "step3", "step3p5", "step5", "xlam",
)
