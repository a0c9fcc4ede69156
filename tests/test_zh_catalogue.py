"""The Chinese catalogues hold no English: every msgstr in locales/zh/*.po is free of ASCII
words outside the allow-list in tests/zh_text.py."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from tests.zh_text import english_words

LOCALES = Path(__file__).resolve().parent.parent / "locales" / "zh"


def test_zh_catalogues_hold_no_english() -> None:
    found = []
    for path in sorted(LOCALES.glob("*.po")):
        with path.open("rb") as handle:
            catalogue = read_po(handle)
        for message in catalogue:
            if not message.id:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            found.extend(
                f"{path.name}: {text!r} → {words}"
                for text in strings
                if (words := english_words(text or ""))
            )
    assert not found, "English words in Chinese texts:\n" + "\n".join(found)
