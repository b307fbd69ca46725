"""The SMS service's own fixtures: subjects' registered contacts and the registered templates.

The platform, not its clients, knows whom to text: a client names the subject by its 统一社会信用代码
and the platform looks up the mobile number the subject registered (docs/protocols.md §5). The
registry is drawn from the shared synthetic world (every enterprise, 农专社 and 个体工商户 has a
USCC; natural persons have none) with its own seeded RNG: most subjects have a number, some never
registered one (`3001`), one opted out of reminders (`3002`). Numbers are synthetic (the 170 virtual
operator range) and shown masked by the admin API.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from simulators.world import WORLD_SEED, build_world

_CONTACTS_SEED = 5  # mixed into the world seed: the registry's own draws
NO_CONTACT_SHARE = 0.1
_MOBILE = re.compile(r"1\d{10}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z]+)\}")


@dataclass(kw_only=True)
class Contact:
    uscc: str
    name: str
    mobile: str
    opted_out: bool = False

    def to_json(self) -> dict[str, object]:
        return {"uscc": self.uscc, "name": self.name, "mobile": mask(self.mobile), "optedOut": self.opted_out}


def mask(mobile: str) -> str:
    """138****1234: the admin API never shows a whole number."""
    return f"{mobile[:3]}****{mobile[-4:]}" if len(mobile) >= 7 else "****"


def is_mobile(value: str) -> bool:
    return bool(_MOBILE.fullmatch(value))


def seed_contacts(world_seed: int = WORLD_SEED) -> dict[str, Contact]:
    """USCC → contact for the world's organisations (deterministic per seed)."""
    rng = random.Random(world_seed * 31 + _CONTACTS_SEED)
    contacts: dict[str, Contact] = {}
    opted_out_done = False
    for subject in build_world(world_seed).subjects:
        if not subject.uscc:
            continue  # natural persons: no USCC, nothing to look up
        if rng.random() < NO_CONTACT_SHARE:
            continue  # never registered a number
        mobile = "170" + "".join(str(rng.randrange(10)) for _ in range(8))
        opted_out = not opted_out_done and subject.kind == "individual_business"
        opted_out_done = opted_out_done or opted_out
        contacts[subject.uscc] = Contact(uscc=subject.uscc, name=subject.name, mobile=mobile, opted_out=opted_out)
    return contacts


# Registered templates (短信模板报备): code → text with {placeholders}; params must fill exactly these.
TEMPLATES: dict[str, str] = {
    "CREDIT_REPAIR_REMINDER": (
        "【信用甘肃】{subjectName}：您的{recordLabel}（{authority}，{documentNumber}）最短公示期将于{lastDay}届满，"
        "自{applyFrom}起可通过{site}申请信用修复。信用修复不收取任何费用。"
    ),
}


def placeholders(template: str) -> frozenset[str]:
    return frozenset(_PLACEHOLDER.findall(template))


def render(template: str, params: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: params[match.group(1)], template)
