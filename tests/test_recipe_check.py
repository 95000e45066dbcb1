"""Every bundled recipe through the installed vLLM's own argument parser."""

import pytest

from engine.profiles import bundled_names, load_part
from engine.server.recipe_check import check_args, installed_vllm_version

pytestmark = pytest.mark.integration  # imports vLLM's argument parser
REMOVED = {"--swap-space", "--max-seq-len-to-capture", "--disable-log-requests"}


@pytest.mark.parametrize("name", bundled_names("recipe"))
def test_bundled_recipe_against_installed_parser(name):
    recipe = load_part(name, "recipe")
    check = check_args("some/model", recipe.args)
    assert check.unavailable is None, check.unavailable
    if recipe.vllm_version == installed_vllm_version():
        # Written for this vLLM: the parser must accept every flag and value.
        assert check.ok, check.explain()
    else:
        # Written for an older vLLM: exactly its removed flags are named, each with a hint; the
        # only values it may reject are compilation-config keys renamed since.
        assert set(check.rejected) == REMOVED & set(recipe.args)
        assert all("--compilation-config" in e for e in check.errors), check.errors
        assert all("rejected by vLLM" in line for line in check.explain())
        if check.errors:
            assert "renamed" in check.explain()[-1]


def test_a_value_error_is_reported_with_the_flag():
    check = check_args("m", ["--max-model-len", "lots", "--block-size", "16"])
    assert not check.ok and "--max-model-len" in check.errors[0]


def test_an_unknown_flag_and_its_value_are_dropped_before_rechecking():
    check = check_args("m", ["--swap-space", "16", "--no-such-flag", "--max-model-len", "4096"])
    assert check.rejected == ["--no-such-flag", "--swap-space"] and not check.errors
