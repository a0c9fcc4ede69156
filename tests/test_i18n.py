"""Every message has a translation in Chinese and English, with the same placeholders."""

from __future__ import annotations

from tools import i18n as i18n_tool
from views.i18n import PoI18n, tr


def test_every_message_is_translated_in_both_languages() -> None:
    found = i18n_tool.extract()
    assert len(found) > 50  # the extractor sees the code
    problems = i18n_tool.problems()
    assert problems == [], "\n".join(problems[:30])


def test_chinese_is_the_default_and_english_is_complete() -> None:
    i18n = PoI18n(default_locale="zh")
    with i18n.context():
        assert tr(None, "This button has expired.") != "This button has expired."
        assert tr("en", "This button has expired.") == "This button has expired."
        assert "/help" in tr("zh", "I do not know that command. See /help.")
        assert tr("zh", "Skip") == "跳过"


def test_a_missing_translation_is_reported(tmp_path, monkeypatch) -> None:
    """The check itself can fail: an empty Chinese entry is listed."""
    for language in i18n_tool.LANGUAGES:
        folder = tmp_path / language
        folder.mkdir()
        (folder / "core.po").write_text('msgid "Skip"\nmsgstr ""\n', encoding="utf-8")
    monkeypatch.setattr(i18n_tool, "LOCALES", tmp_path)
    problems = i18n_tool.problems()
    assert any(p.startswith("zh: no translation for 'Skip'") for p in problems)
