"""apertus-azure: serve Apertus with vLLM on Azure (host chosen by the stack config)."""

from stacks.program import run

run()
