"""Keep the translations complete.

    python -m tools.i18n check   # list messages without a translation (exit 1 if any)
    python -m tools.i18n sync    # add missing messages to locales/<lang>/<feature>.po

A message is any literal passed to `_()`, `__()`, `N_()` or as the second argument of `tr()`.
New messages go to the .po file of the source file's feature (handlers/points_review.py,
views/points.py and storage/points.py -> points.po; what features share -> core.po). English
gets the id as its text; Chinese is left empty for a person to write, and the check fails until
they do.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"
LANGUAGES = ("zh", "en")
SOURCES = ("bot", "handlers", "storage", "schedules", "exports", "views")
FEATURES = ("org", "points", "reports", "votes", "council", "activities", "shop", "home")
KEYWORDS = {"_": None, "__": None, "N_": None, "tr": (2,)}
PLACEHOLDER = re.compile(r"\{(\w*)\}")


@dataclass(frozen=True)
class Source:
    message: str
    path: str  # relative to ROOT
    line: int

    @property
    def feature(self) -> str:
        """The feature its file belongs to (views/points.py, handlers/points_review.py and
        storage/permissions/points.py -> points); what all features share -> core."""
        prefix = Path(self.path).stem.split("_", 1)[0]
        return prefix if prefix in FEATURES else "core"


def extract() -> dict[str, Source]:
    """Every translatable message in the code, with the first place it appears."""
    found: dict[str, Source] = {}
    for folder in SOURCES:
        for filename, line, extracted, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            message = extracted[0] if isinstance(extracted, tuple) else extracted
            if message and message not in found:
                found[message] = Source(message, f"{folder}/{filename}", line)
    return found


def load(language: str) -> dict[str, tuple[Path, str]]:
    """id -> (file, translation) for one language."""
    result: dict[str, tuple[Path, str]] = {}
    for path in sorted((LOCALES / language).glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if message.id:
                    result[str(message.id)] = (path, str(message.string or ""))
    return result


def problems() -> list[str]:
    """Missing or empty translations, and translations whose {placeholders} differ."""
    found = extract()
    issues: list[str] = []
    for language in LANGUAGES:
        catalogue = load(language)
        for message, source in sorted(found.items(), key=lambda item: item[1].path):
            entry = catalogue.get(message)
            where = f"{source.path}:{source.line}"
            if entry is None or not entry[1].strip():
                issues.append(f"{language}: no translation for {message!r} ({where})")
            elif set(PLACEHOLDER.findall(entry[1])) != set(PLACEHOLDER.findall(message)):
                issues.append(f"{language}: placeholders differ in {message!r} ({where})")
    return issues


def sync() -> int:
    found = extract()
    added = 0
    for language in LANGUAGES:
        known = load(language)
        by_file: dict[Path, list[Source]] = {}
        for message, source in found.items():
            if message not in known:
                by_file.setdefault(LOCALES / language / f"{source.feature}.po", []).append(source)
        for path, sources in by_file.items():
            catalog = Catalog(locale=language, domain="messages")
            if path.exists():
                with path.open("rb") as handle:
                    catalog = read_po(handle, locale=language)
            for source in sources:
                text = source.message if language == "en" else ""
                catalog.add(source.message, text, locations=[(source.path, source.line)])
                added += 1
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                write_po(handle, catalog, width=0, omit_header=True, no_location=True)
    return added


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    if command == "sync":
        sys.stdout.write(f"added {sync()} entries\n")
    issues = problems()
    for issue in issues:
        sys.stdout.write(issue + "\n")
    return 1 if issues else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
