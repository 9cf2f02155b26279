"""The reporting entity of a site, as the operator declares it in a profile file. Pure.

A carbon report names who reports (GB/T 32150-2015, 5.1 and annex A's "reporting entity"
block): legal name, unified social credit code, address, industry, contact. Loopmeter cannot
know these; the operator writes them in one YAML file per site, and the file is validated
here so that a report never carries a mistyped credit code or an unknown domain.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contract.catalogue import Domain
from contract.topics import IDENTIFIER_PATTERN

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""GB 32100-2015's 31 code characters: digits and capitals without I, O, S, V, Z."""
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # GB 32100-2015, 4.2: 3^(i-1) mod 31


class ProfileError(ValueError):
    """A profile file is missing, unreadable or invalid; the message says which and where."""


def uscc_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code whose first 17 are given."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """Why `code` is not a valid unified social credit code, or None if it is."""
    if len(code) != 18:
        return f"has {len(code)} characters, not 18"
    wrong = sorted({c for c in code if c not in USCC_ALPHABET})
    if wrong:
        return f"contains {''.join(wrong)!r}: only digits and capitals without I O S V Z"
    expected = uscc_check_char(code[:17])
    if code[17] != expected:
        return f"check character is {code[17]!r}, the first 17 characters give {expected!r}"
    return None


class Contact(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Person answerable for the report.")
    phone: str = Field(pattern=r"^\+?[0-9][0-9 -]{5,19}$")
    email: str = Field("", pattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SiteProfile(BaseModel):
    """Who reports for a site, and where it sits in the province's statistics."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    site: str = Field(pattern=IDENTIFIER_PATTERN, description="Site id, as in MQTT topics.")
    name_zh: str = Field(min_length=2, description="Legal name as registered (Chinese).")
    name_en: str = Field("", description="English name, shown second.")
    uscc: str = Field(description="Unified social credit code (统一社会信用代码), GB 32100.")
    province: str = Field("河南省", min_length=2)
    city: str = Field(min_length=2, description="Prefecture-level city (Chinese), e.g. 郑州市.")
    city_en: str = Field(min_length=2, description="The city in pinyin, e.g. Zhengzhou.")
    address: str = Field(min_length=4, description="Registered address of the production site.")
    industry_code: str = Field(pattern=r"^\d{4}$",
                               description="GB/T 4754-2017 class, e.g. 4210.")
    industry: str = Field(min_length=2,
                          description="The class name, e.g. 金属废料和碎屑加工处理.")
    domain: Domain = Field(description="Recycling domain the regulator files the site under.")
    contact: Contact

    @field_validator("uscc")
    @classmethod
    def _valid_uscc(cls, code: str) -> str:
        problem = uscc_problem(code)
        if problem:
            raise ValueError(f"unified social credit code {code!r} {problem}")
        return code


def load_profile(path: Path) -> SiteProfile:
    """The profile in `path`; ProfileError saying what to fix otherwise."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ProfileError(f"{path}: cannot read the site profile ({error})") from error
    try:
        return SiteProfile.model_validate(data)
    except ValidationError as error:
        fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}"
                           for e in error.errors())
        raise ProfileError(f"{path}: {fields}") from error


def load_profiles(directory: Path) -> dict[str, SiteProfile]:
    """Every `*.yaml` profile in `directory`, by site; ProfileError on the first bad one."""
    profiles: dict[str, SiteProfile] = {}
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else ():
        profile = load_profile(path)
        if profile.site in profiles:
            raise ProfileError(f"{path}: site {profile.site!r} has a second profile")
        profiles[profile.site] = profile
    return profiles


def profile_yaml(profile: SiteProfile) -> str:
    """The file an operator would write for `profile`."""
    return yaml.safe_dump(profile.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
