"""Secrets found by the name of their flag or variable, and masked wherever they appear."""

from engine.redact import MASK, Redactor, is_secret_name, secret_values


def test_secret_names():
    for name in ("--api-key", "HF_TOKEN", "OPENAI_API_KEY", "--hf-token", "DB_PASSWORD", "aws_secret", "--passwd"):
        assert is_secret_name(name), name
    for name in ("--access-token", "AUTH_TOKEN", "GITHUB_TOKEN", "--token", "HUGGING_FACE_HUB_TOKEN", "SECRET_KEY"):
        assert is_secret_name(name), name
    for name in ("--max-model-len", "VLLM_USE_V1", "--tokenizer-mode", "--max-num-batched-tokens", "HOST"):
        assert not is_secret_name(name), name
    # "token" inside a name that only counts tokens, or times them, holds no secret.
    for name in ("--token-delay", "--return-tokens-as-token-ids", "--tokenizer", "TOKENIZERS_PARALLELISM"):
        assert not is_secret_name(name), name


def test_values_of_flags_and_env_are_masked_everywhere():
    args = ["--model", "m", "--api-key", "sk-abc123", "--hf-token=hf_xyz789", "--port", "8000"]
    env = {"HF_TOKEN": "hf_envsecret", "VLLM_USE_V1": "1"}
    values = secret_values(args, env)
    assert values == {"sk-abc123", "hf_xyz789", "hf_envsecret"}
    redact = Redactor(values)
    line = "non-default args: {'api_key': ['sk-abc123'], 'hf_token': 'hf_xyz789'} HF_TOKEN=hf_envsecret port 8000"
    assert (
        redact(line) == f"non-default args: {{'api_key': ['{MASK}'], 'hf_token': '{MASK}'}} HF_TOKEN={MASK} port 8000"
    )
    assert not Redactor() and Redactor()("plain") == "plain"
