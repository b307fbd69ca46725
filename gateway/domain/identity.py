"""Record identity: (category, deciding authority's code, document number), normalised.

Never the subject's name: names change and are spelled differently across systems.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from gateway.domain.categories import Category

_SPACES = re.compile(r"\s+")


def normalise_text(raw: str) -> str:
    """Full-width → half-width (NFKC folds 【】-free full-width digits, letters and brackets), trimmed,
    inner white space removed: 文号 are typed by hand in many systems."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", raw))


def normalise_code(raw: str) -> str:
    return normalise_text(raw).upper()


@dataclass(frozen=True, kw_only=True)
class RecordIdentity:
    category: Category
    authority_code: str
    document_number: str

    @classmethod
    def of(cls, category: Category, authority_code: str, document_number: str) -> RecordIdentity:
        return cls(
            category=category,
            authority_code=normalise_code(authority_code),
            document_number=normalise_text(document_number),
        )

    @property
    def key(self) -> str:
        """The sort key of full listings: the three parts joined by U+001F (below every printable
        character, so a shorter authority code sorts first). Order is the byte order of its UTF-8
        encoding, which is also Python's code point order and PostgreSQL's `COLLATE "C"`."""
        return f"{self.category}\x1f{self.authority_code}\x1f{self.document_number}"

    @property
    def record_id(self) -> str:
        """Deterministic, so every replica and every re-ingest names the record the same way."""
        digest = hashlib.sha256(self.key.encode()).hexdigest()
        return f"rec_{digest[:24]}"
