"""A simulated province: recycling plants across Henan's cities and the four domains, each
with the site profile its operator would file. Deterministic for a seed. Pure.

Names, credit codes and addresses are fictitious; the credit codes are well-formed
(GB 32100-2015: region code of the city, valid check character) so that they pass the same
validation as a real operator's file.
"""

from __future__ import annotations

import random
from pathlib import Path

from contract.catalogue import Domain
from contract.site_profile import (
    USCC_ALPHABET,
    Contact,
    SiteProfile,
    profile_yaml,
    uscc_check_char,
)

# (city, pinyin, administrative division code: GB/T 2260)
CITIES = (("郑州市", "Zhengzhou", "410100"), ("开封市", "Kaifeng", "410200"),
          ("洛阳市", "Luoyang", "410300"), ("新乡市", "Xinxiang", "410700"),
          ("许昌市", "Xuchang", "411000"), ("南阳市", "Nanyang", "411300"))
# Domain -> (GB/T 4754-2017 class, its name, a word for the company name)
DOMAINS = {
    Domain.CONSTRUCTION_WASTE: ("4220", "非金属废料和碎屑加工处理", "建材再生"),
    Domain.RECYCLED_METALS: ("4210", "金属废料和碎屑加工处理", "再生金属"),
    Domain.WASTE_BATTERIES: ("4210", "金属废料和碎屑加工处理", "电池循环"),
    Domain.WASTE_APPLIANCES: ("4210", "金属废料和碎屑加工处理", "电器拆解"),
}
BRANDS = ("恒源", "绿洲", "中原", "豫新", "华通", "嵩山", "黄河", "伏牛", "天中", "宏达", "金桥",
          "博远")
SURNAMES = ("王", "李", "张", "刘", "陈", "杨", "赵", "黄")
GIVEN = ("伟", "敏", "静", "磊", "洋", "芳", "军", "丽")


def uscc(region: str, rng: random.Random) -> str:
    """A well-formed code: 9 (registered with SAMR) 1 (enterprise), region, 9 random
    organisation characters, check character."""
    body = "91" + region + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
    return body + uscc_check_char(body)


def province(sites: int = 24, seed: int = 16) -> list[SiteProfile]:
    """`sites` plants, domains and cities taken in turn so that each is represented."""
    rng = random.Random(seed)
    domains = list(DOMAINS)
    profiles = []
    for index in range(sites):
        domain = domains[index % len(domains)]
        city, city_en, region = CITIES[index % len(CITIES)]
        code, industry, word = DOMAINS[domain]
        brand = BRANDS[index % len(BRANDS)]
        profiles.append(SiteProfile(
            site=f"ha-{city_en.lower()}-{index + 1:02d}",
            name_zh=f"{city[:-1]}{brand}{word}{'' if index < len(BRANDS) else '科技'}有限公司",
            name_en=f"{city_en} {domain.value.replace('_', ' ').title()} Co. {index + 1}",
            uscc=uscc(region, rng), city=city, city_en=city_en,
            address=f"{city}循环经济产业园 {rng.randint(1, 99)} 号", industry_code=code,
            industry=industry, domain=domain,
            contact=Contact(name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                            phone=f"+86 {rng.randint(370, 379)} {rng.randint(1000, 9999)} "
                                  f"{rng.randint(1000, 9999)}")))
    return profiles


def write_profiles(profiles: list[SiteProfile], folder: Path) -> list[Path]:
    """One `<site>.yaml` per profile, as the operators would file them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for profile in profiles:
        path = folder / f"{profile.site}.yaml"
        path.write_text(profile_yaml(profile), encoding="utf-8")
        paths.append(path)
    return paths
