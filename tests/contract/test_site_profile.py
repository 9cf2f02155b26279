"""Site profiles: the unified social credit code's check character and the file's rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.site_profile import (
    USCC_ALPHABET,
    ProfileError,
    load_profile,
    load_profiles,
    uscc_check_char,
    uscc_problem,
)

SITES = Path(__file__).resolve().parents[1] / "gateway" / "sites"
bodies = st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17)


def test_a_published_code_checks() -> None:
    # The check character of a code printed on a real business licence (GB 32100-2015 4.2).
    assert uscc_check_char("91350100M000100Y4") == "3"
    assert uscc_problem("91350100M000100Y43") is None


@given(bodies)
def test_every_code_with_its_check_character_is_valid(body: str) -> None:
    assert uscc_problem(body + uscc_check_char(body)) is None


@given(bodies, st.integers(0, 17), st.sampled_from(USCC_ALPHABET))
def test_any_single_changed_character_is_caught(body: str, position: int, other: str) -> None:
    code = body + uscc_check_char(body)
    changed = code[:position] + other + code[position + 1:]
    assert (uscc_problem(changed) is None) == (changed == code)


@pytest.mark.parametrize(("code", "why"), [
    ("91410100MA45Q7XK2", "17 characters"), ("91410100MA45Q7XKIB", "'I'"),
    ("91410100MA45Q7XK2C", "check character is 'C'")])
def test_bad_codes_say_why(code: str, why: str) -> None:
    problem = uscc_problem(code)
    assert problem is not None and why in problem


def test_profile_files_are_validated(tmp_path: Path) -> None:
    good = SITES / "zz.yaml"
    assert load_profile(good).uscc == "91410100MA45Q7XK2B"
    bad = tmp_path / "zz.yaml"
    bad.write_text(good.read_text(encoding="utf-8").replace("Q7XK2B", "Q7XK2C")
                   .replace("recycled_metals", "plastics"), encoding="utf-8")
    with pytest.raises(ProfileError) as error:
        load_profiles(tmp_path)
    assert "uscc" in str(error.value) and "domain" in str(error.value)
    assert str(bad) in str(error.value)
    assert load_profiles(tmp_path / "absent") == {}
