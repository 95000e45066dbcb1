"""The tiny local model: a 2-layer Llama with random weights and a tokenizer trained here.

No model hub is needed: it is built on first use, deterministically, into the cache folder
(`$LLMBENCH_CACHE`, default `~/.cache/llmbench`) and reused afterwards. It exists to exercise
the whole pipeline on real vLLM on a CPU host; its tokens are noise.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

TINY_NAME = "tiny-llama"
# Bump when the recipe below changes, so old caches are not reused.
TINY_VERSION = "v1"
SEED = 1234


def cache_dir() -> Path:
    return Path(os.environ.get("LLMBENCH_CACHE", Path.home() / ".cache" / "llmbench"))


def tiny_model_dir() -> Path:
    return cache_dir() / "models" / f"{TINY_NAME}-{TINY_VERSION}"


def _corpus() -> list[str]:
    # Deterministic generated text: enough distinct words for a few thousand BPE merges.
    import random

    rng = random.Random(SEED)
    letters = "etaoinshrdlucmfwypvbgkjqxz"
    words = ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(3000)]
    lines = [" ".join(rng.choices(words, k=12)) + rng.choice(".,;:!?") for _ in range(2000)]
    digits = [" ".join(str(rng.randint(0, 10**6)) for _ in range(10)) for _ in range(200)]
    return lines + digits


def build_tiny_model(target: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=4096,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    # A plain chat template so /v1/chat/completions works too.
    fast.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )

    torch.manual_seed(SEED)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=8192,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(target, safe_serialization=True)
    fast.save_pretrained(target)
    return target


def ensure_tiny_model(progress=print) -> Path:
    """Path of the tiny model, building it on first use (atomically: a crash leaves no half model)."""
    final = tiny_model_dir()
    if (final / "config.json").is_file() and (final / "tokenizer.json").is_file():
        return final
    progress(f"building the tiny local model into {final} (first use only)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{TINY_NAME}-", dir=final.parent))
    try:
        build_tiny_model(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; the model is shared by every user of the cache
        try:
            tmp.rename(final)
        except OSError:
            # Another process built it first: keep theirs.
            if not (final / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
