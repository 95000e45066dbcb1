"""The tokenizer without torch: the same ids and texts as transformers, and no torch in the run process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from engine.load.prompts import PromptFactory
from engine.load.tokenizer import FastTokenizer, load_tokenizer
from engine.spawn import ROOT

WORDS = ["[UNK]", "[PAD]", "<s>", "</s>", "<extra>", "hello", "world", ".", "n't", "do"]


def word_folder(tmp_path: Path, config: dict) -> Path:
    """A word-level tokenizer folder (not BPE: the config's clean-up applies) with special tokens."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens(["[UNK]", "[PAD]", "<s>", "</s>", "<extra>"])
    tok.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    return tmp_path


def test_special_tokens_as_transformers_names_them(tmp_path):
    config = {
        "bos_token": {"content": "<s>", "special": True},
        "eos_token": "</s>",
        "unk_token": "[UNK]",
        "extra_special_tokens": {"image_token": "<extra>"},
    }
    tok = load_tokenizer(str(word_folder(tmp_path, config)))
    assert isinstance(tok, FastTokenizer)
    # [PAD] is an added special token but no named or extra one: transformers leaves it out too.
    assert tok.all_special_ids == [0, 2, 3, 4]
    assert len(tok) == len(WORDS)
    assert tok.encode("hello world", add_special_tokens=False) == [5, 6]
    assert tok.decode([2, 5, 6, 3], skip_special_tokens=True) == "hello world"
    assert tok.decode([2, 5], skip_special_tokens=False) == "<s> hello"


def test_clean_up_spaces_only_where_the_config_asks(tmp_path):
    ids = [8, 5, 7]  # "n't hello ."
    plain = load_tokenizer(str(word_folder(tmp_path / "a", {})))
    cleaned = load_tokenizer(str(word_folder(tmp_path / "b", {"clean_up_tokenization_spaces": True})))
    assert plain.decode(ids) == "n't hello ."
    assert cleaned.decode(ids) == "n't hello."


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(RuntimeError, match=r"no folder .*nothing-here.*Set `tokenizer`"):
        load_tokenizer(str(tmp_path / "nothing-here"))


def test_the_run_process_tokenises_without_torch(tmp_path):
    """The run process's modules and a loaded tokenizer: neither torch nor transformers imported."""
    folder = word_folder(tmp_path, {"eos_token": "</s>"})
    code = (
        f"import sys; sys.path.insert(0, {ROOT!r}); import engine.run.child; "
        "from engine.load.tokenizer import load_tokenizer; from engine.load.prompts import PromptFactory; "
        f"PromptFactory(load_tokenizer({str(folder)!r})).text(8, 0, 0); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_same_ids_and_prompts_as_transformers(tiny_model):
    from transformers import AutoTokenizer

    ours, theirs = load_tokenizer(str(tiny_model)), AutoTokenizer.from_pretrained(str(tiny_model))
    assert isinstance(ours, FastTokenizer)
    assert len(ours) == len(theirs) and ours.all_special_ids == sorted(theirs.all_special_ids)
    a, b = PromptFactory(ours, seed=3), PromptFactory(theirs, seed=3)
    assert a.vocab == b.vocab
    for length in (1, 7, 64, 300):
        assert a.text(length, 0, length) == b.text(length, 0, length)
        assert a.token_ids(length, 1, 2) == b.token_ids(length, 1, 2)
    ids = b.token_ids(200, 5, 5).token_ids + theirs.all_special_ids
    for skip in (True, False):
        assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)
    text = theirs.decode(ids)
    for special in (True, False):
        assert ours.encode(text, add_special_tokens=special) == theirs.encode(text, add_special_tokens=special)
