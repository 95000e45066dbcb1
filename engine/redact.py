"""Secrets stay out of what we write and print: launch commands, logs, summaries, messages.

A value is secret when the flag or environment variable that carries it is named like one
(api-key, a trailing token, secret, password, credential; HF_TOKEN, OPENAI_API_KEY...). Every text we show
has those values replaced, wherever they appear (vLLM itself prints its arguments in its log).
"""

from __future__ import annotations

import re

# "token" only as the last part of the name (HF_TOKEN, --hf-token, GITHUB_TOKEN) or after a word that
# makes it a credential (access-token-file...): --tokenizer-mode, --max-num-batched-tokens,
# --return-tokens-as-token-ids and a fake server's --token-delay hold no secret, and masking their
# values would garble every log line that holds them and break a resume of their run.
SECRET_NAME = re.compile(
    r"(api[-_]?key|(^|[-_])token$|(hf|access|auth|bearer|refresh|session)[-_]token|secret|passw(or)?d|credential)",
    re.IGNORECASE,
)
MASK = "***"


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name.lstrip("-")))


def secret_values(args: list[str], env: dict[str, str]) -> set[str]:
    """The values of secret-named flags (`--api-key v`, `--api-key=v`) and environment variables."""
    values = {v for k, v in env.items() if is_secret_name(k) and v}
    for i, tok in enumerate(args):
        if not tok.startswith("-"):
            continue
        name, eq, value = tok.partition("=")
        if not is_secret_name(name):
            continue
        if eq and value:
            values.add(value)
        elif i + 1 < len(args) and not args[i + 1].startswith("-"):
            values.add(args[i + 1])
    return {v for v in values if len(v) >= 3}  # a 1-2 character "secret" would mask ordinary text


class Redactor:
    def __init__(self, secrets: set[str] | None = None):
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted(secrets or (), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self.secrets)
