"""Telling Chinese from English, and the text normalisation every matcher shares."""

from __future__ import annotations

import unicodedata

import opencc

_TO_SIMPLIFIED = opencc.OpenCC("t2s")

_CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2A6DF))


def is_cjk(character: str) -> bool:
    code = ord(character)
    return any(low <= code <= high for low, high in _CJK_RANGES)


def detect_language(text: str, default: str = "zh") -> str:
    """``zh`` when Chinese characters are present in any real share, ``en`` for Latin text."""
    cjk = sum(1 for character in text if is_cjk(character))
    latin = sum(1 for character in text if character.isascii() and character.isalpha())
    if cjk == 0 and latin == 0:
        return default
    # A Chinese character carries about as much as a short English word.
    return "zh" if cjk * 4 >= latin else "en"


def fold(text: str) -> str:
    """Full-width to half-width, compatibility forms folded, traditional characters to simplified."""
    folded: str = _TO_SIMPLIFIED.convert(unicodedata.normalize("NFKC", text))
    return folded


def normalise(text: str) -> str:
    """``fold``, then lower case with white space collapsed: the form every matcher compares."""
    return " ".join(fold(text).lower().split())
