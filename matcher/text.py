"""The texts the engine embeds for each record, and a sentence splitter for them.

An applicant is read as one whole text (position + motivation) and as its single sentences; an
offer as one whole text (title, tags, description) and as its sentences, title and tag line.
Sentence views let one specific wish in a long motivation find the one offer sentence about it.
"""

from __future__ import annotations

import re

from matcher.records import Applicant, Offer

_BOUNDARY = re.compile(r"(?<=[.!?…])\s+(?=[\"„“»(\[]?[A-ZÄÖÜÀ-ÝŁŚŻŹĆŃŠČŘŽ0-9])")
# A period after these does not end a sentence ("z. B. Wien", "Dr. Weber", "Nr. 4").
_ABBREVIATIONS = frozenset(
    """z b u a d h bzw ca vgl ggf evtl inkl etc nr dr prof st abs bsp sog usw ua zb mr mrs
    ms e g i e""".split()
)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` in order; never empty for non-blank text."""
    pieces = _BOUNDARY.split(text.strip())
    sentences: list[str] = []
    for piece in pieces:
        previous = sentences[-1] if sentences else None
        # "z. B. Wien" and a lone "..." are not sentences of their own: join them.
        if previous is not None and (
            _ends_with_abbreviation(previous) or not _has_word(previous) or not _has_word(piece)
        ):
            sentences[-1] = f"{previous} {piece}"
        else:
            sentences.append(piece)
    return [sentence for sentence in sentences if sentence]


def _has_word(text: str) -> bool:
    return any(character.isalnum() for character in text)


def _ends_with_abbreviation(sentence: str) -> bool:
    words = sentence.rstrip(".").split()
    return bool(words) and words[-1].lower().replace(".", "") in _ABBREVIATIONS


def applicant_text(applicant: Applicant) -> str:
    """The whole application as the model reads it."""
    return f"{applicant.position}. {applicant.motivation}"


def applicant_sentences(applicant: Applicant) -> list[str]:
    """The motivation's sentences and the position, each read on its own."""
    return [*split_sentences(applicant.motivation), applicant.position]


def applicant_texts(applicant: Applicant) -> list[str]:
    """Every text the engine embeds for an applicant (to forget them on deletion)."""
    return [applicant_text(applicant), *applicant_sentences(applicant)]


def offer_text(offer: Offer) -> str:
    """The whole offer as the model reads it; German tags bridge offers in other languages."""
    tags = f"{', '.join(offer.tags)}. " if offer.tags else ""
    return f"{offer.title}. {tags}{offer.description}"


def offer_sentences(offer: Offer) -> list[str]:
    """The description's sentences, the title and the tag line, each read on its own."""
    tags = [", ".join(offer.tags)] if offer.tags else []
    return [*split_sentences(offer.description), offer.title, *tags]


def reference_sentences(reference_text: str) -> list[str]:
    """Sentences of a reference application line ("Position. Motivation …")."""
    return split_sentences(reference_text)
