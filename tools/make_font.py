"""Build the small CJK font the praise-list pictures are drawn with (assets/fonts/).

    python -m tools.make_font NotoSansCJK*-Regular.otf

The source is any Pan-CJK Noto Sans CJK Regular OTF (SIL Open Font License 1.1; e.g. from
github.com/notofonts/noto-cjk, or the `cvttf-notosanscjk-regular` wheel on PyPI). The subset
keeps ASCII, Chinese punctuation, full-width forms, every character of GB 2312 (6,763 hanzi)
and every character of the shipped catalogue; simplified-Chinese glyph shapes (the font's
`locl` for ZHS) are baked into the character map, so the picture looks right without a shaping
engine. The subset is renamed ("Linli Sans CJK"), as the OFL asks of modified fonts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "fonts" / "LinliSansCJK-Regular.otf"
FAMILY = "Linli Sans CJK"


def characters() -> set[str]:
    chars = {chr(c) for c in range(0x20, 0x7F)}
    chars |= {chr(c) for c in range(0x3000, 0x3040)}  # CJK symbols and punctuation
    chars |= {chr(c) for c in range(0xFF00, 0xFFF0)}  # full-width forms
    chars |= set("·—–…‘’“”•№℃★☆○●◎◇◆□■△▲※→←↑↓✔✖")
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    catalogue = ROOT / "data_files" / "points_catalogue.json"
    if catalogue.exists():
        chars |= set(catalogue.read_text(encoding="utf-8"))
    return {c for c in chars if c.isprintable()}


def simplified_map(font: TTFont) -> dict[str, str]:
    """Glyph substitutions of the `locl` feature for simplified Chinese (script hani, ZHS)."""
    gsub = font["GSUB"].table
    indices: set[int] = set()
    for script in gsub.ScriptList.ScriptRecord:
        if script.ScriptTag != "hani":
            continue
        for record in script.Script.LangSysRecord:
            if record.LangSysTag.strip() == "ZHS":
                indices |= set(record.LangSys.FeatureIndex)
    mapping: dict[str, str] = {}
    for index in indices:
        feature = gsub.FeatureList.FeatureRecord[index]
        if feature.FeatureTag != "locl":
            continue
        for lookup_index in feature.Feature.LookupListIndex:
            for table in gsub.LookupList.Lookup[lookup_index].SubTable:
                mapping.update(getattr(table, "mapping", {}) or {})
    return mapping


def build(source: Path) -> None:
    font = TTFont(source)
    swap = simplified_map(font)
    for table in font["cmap"].tables:
        for code, glyph in list(table.cmap.items()):
            table.cmap[code] = swap.get(glyph, glyph)
    options = subset.Options()
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[ord(c) for c in characters()])
    subsetter.subset(font)
    names = font["name"]
    for record in names.names:
        if record.nameID in (1, 16):
            record.string = FAMILY
        elif record.nameID == 4:
            record.string = f"{FAMILY} Regular"
        elif record.nameID == 6:
            record.string = "LinliSansCJK-Regular"
        elif record.nameID == 3:
            record.string = "LinliSansCJK-Regular subset of Noto Sans CJK"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    font.save(OUT)
    print(f"{OUT.relative_to(ROOT)}: {OUT.stat().st_size:,} bytes, {len(characters())} chars")  # noqa: T201


if __name__ == "__main__":
    build(Path(sys.argv[1]))
