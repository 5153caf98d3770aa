#!/usr/bin/env python3
"""Generate the property table of lanmsg/chat/graphemes.py from the Unicode Character Database.

    python3 scripts/gen-grapheme-tables.py UCD_DIR           # rewrite the generated block
    python3 scripts/gen-grapheme-tables.py --check UCD_DIR   # exit 1 if the block is not current
    python3 scripts/gen-grapheme-tables.py --list UCD_DIR    # the ranges, one a line, with names

UCD_DIR holds UnicodeData.txt, auxiliary/GraphemeBreakProperty.txt and emoji/emoji-data.txt of
one Unicode version: the layout of Unicode's UCD.zip, and of Debian's unicode-data package
(apt-get install unicode-data; it installs them under /usr/share/unicode).

The table holds only what lanmsg.chat.graphemes cannot take from the General_Category: for every
code point, Grapheme_Cluster_Break (and Extended_Pictographic) is computed from the files; where
it is what ``_from_category`` gives for the code point's category in this UnicodeData.txt, the
table says "from the category" (the running Python's unicodedata answers then); Hangul syllables
are "LV or LVT by arithmetic"; everything else is written out.  Runs of one value become one
range.  Before writing, every code point is looked up through the new table (with this version's
categories) and compared with the files.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULE = ROOT / "lanmsg" / "chat" / "graphemes.py"
sys.path.insert(0, str(ROOT))

from lanmsg.chat import graphemes as g  # noqa: E402 (after the path is set)

NAMES = {
    "Other": g.OTHER,
    "CR": g.CR,
    "LF": g.LF,
    "Control": g.CONTROL,
    "Extend": g.EXTEND,
    "ZWJ": g.ZWJ,
    "Regional_Indicator": g.RI,
    "Prepend": g.PREPEND,
    "SpacingMark": g.SPACINGMARK,
    "L": g.L,
    "V": g.V,
    "T": g.T,
    "LV": g.LV,
    "LVT": g.LVT,
}
CODE_NAMES = {
    g.OTHER: "OTHER",
    g.CR: "CR",
    g.LF: "LF",
    g.CONTROL: "CONTROL",
    g.EXTEND: "EXTEND",
    g.ZWJ: "ZWJ",
    g.RI: "RI",
    g.PREPEND: "PREPEND",
    g.SPACINGMARK: "SPACINGMARK",
    g.L: "L",
    g.V: "V",
    g.T: "T",
    g.LV: "LV",
    g.LVT: "LVT",
    g.PICT: "PICT",
    g._DERIVE: "_DERIVE",
    g._HANGUL: "_HANGUL",
}
MAX = 0x110000


def version_of(path: pathlib.Path, pattern: str) -> str:
    head = path.read_text(encoding="utf-8").splitlines()[:12]
    for line in head:
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    raise SystemExit(f"no version in the header of {path}")


def categories(path: pathlib.Path) -> list[str]:
    cat = ["Cn"] * MAX
    first = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split(";")
        cp = int(f[0], 16)
        if f[1].endswith(", First>"):
            first = cp
        elif f[1].endswith(", Last>"):
            cat[first : cp + 1] = [f[2]] * (cp + 1 - first)
        else:
            cat[cp] = f[2]
    return cat


def ranges(path: pathlib.Path) -> list[tuple[int, int, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        where, value = (x.strip() for x in data.split(";")[:2])
        lo, _, hi = where.partition("..")
        out.append((int(lo, 16), int(hi or lo, 16), value))
    return out


def wanted(ucd: pathlib.Path) -> tuple[list[int], list[str], str]:
    """Each code point's property as the files say (PICT for Extended_Pictographic), the
    categories, and the Unicode version."""
    gbp = ucd / "auxiliary" / "GraphemeBreakProperty.txt"
    emoji = ucd / "emoji" / "emoji-data.txt"
    version = version_of(gbp, r"GraphemeBreakProperty-(\d+\.\d+\.\d+)\.txt")
    emoji_version = version_of(emoji, r"Emoji Version (\d+\.\d+)")
    if not version.startswith(emoji_version + "."):
        raise SystemExit(f"{gbp} is Unicode {version} but {emoji} is Emoji {emoji_version}")
    want = [g.OTHER] * MAX
    for lo, hi, value in ranges(gbp):
        want[lo : hi + 1] = [NAMES[value]] * (hi + 1 - lo)
    for lo, hi, value in ranges(emoji):
        if value != "Extended_Pictographic":
            continue
        for cp in range(lo, hi + 1):
            if want[cp] != g.OTHER:
                raise SystemExit(f"U+{cp:04X} is Extended_Pictographic and {want[cp]}: the table cannot say both")
            want[cp] = g.PICT
    return want, categories(ucd / "UnicodeData.txt"), version


def table(want: list[int], cat: list[str]) -> list[tuple[int, int]]:
    values = []
    for cp in range(MAX):
        w = want[cp]
        if w in (g.LV, g.LVT):
            if not 0xAC00 <= cp <= 0xD7A3 or (w == g.LV) != ((cp - 0xAC00) % 28 == 0):
                raise SystemExit(f"U+{cp:04X} is {w}, not what Hangul syllable arithmetic gives")
            values.append(g._HANGUL)
        elif w == g._from_category(cat[cp]):
            values.append(g._DERIVE)
        else:
            values.append(w)
    runs = [(0, values[0])]
    for cp in range(1, MAX):
        if values[cp] != runs[-1][1]:
            runs.append((cp, values[cp]))
    return runs


def verify(runs: list[tuple[int, int]], want: list[int], cat: list[str]) -> None:
    starts = [s for s, _ in runs]
    from bisect import bisect_right

    for cp in range(MAX):
        v = runs[bisect_right(starts, cp) - 1][1]
        if v == g._DERIVE:
            v = g._from_category(cat[cp])
        elif v == g._HANGUL:
            v = g.LV if (cp - 0xAC00) % 28 == 0 else g.LVT
        if v != want[cp]:
            raise SystemExit(f"U+{cp:04X}: the table gives {CODE_NAMES[v]}, the files {CODE_NAMES[want[cp]]}")


def block(runs: list[tuple[int, int]], version: str) -> str:
    pairs = [f"0x{s:04X}, {CODE_NAMES[v]}," for s, v in runs]
    lines = ["    " + " ".join(pairs[i : i + 4]) for i in range(0, len(pairs), 4)]
    return "\n".join(
        [
            f'UNICODE_VERSION = "{version}"',
            f"# {len(runs)} ranges: (first code point, value), ...",
            "# fmt: off",
            "_TABLE = (",
            *lines,
            ")",
            "# fmt: on",
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ucd", type=pathlib.Path, help="the UCD directory (Debian: /usr/share/unicode)")
    ap.add_argument("--check", action="store_true", help="only check that lanmsg/chat/graphemes.py is current")
    ap.add_argument("--list", action="store_true", help="print the ranges with the first code point's name")
    args = ap.parse_args()
    want, cat, version = wanted(args.ucd)
    runs = table(want, cat)
    verify(runs, want, cat)
    if args.list:
        import unicodedata

        ends = [s - 1 for s, _ in runs[1:]] + [MAX - 1]
        for (s, v), e in zip(runs, ends, strict=True):
            if v != g._DERIVE:
                name = unicodedata.name(chr(s), "(not in this Python's unicodedata)")
                print(f"{s:04X}..{e:04X} {CODE_NAMES[v]:12} {cat[s]} {name}")
        return 0
    text = MODULE.read_text(encoding="utf-8")
    begin, end = "# BEGIN GENERATED\n", "\n# END GENERATED"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    new = head + begin + block(runs, version) + end + tail
    if args.check:
        if new != text:
            print(
                f"lanmsg/chat/graphemes.py is not what Unicode {version}'s files give: run without --check",
                file=sys.stderr,
            )
            return 1
        print(f"lanmsg/chat/graphemes.py is current for Unicode {version} ({len(runs)} ranges)")
        return 0
    MODULE.write_text(new, encoding="utf-8")
    print(f"lanmsg/chat/graphemes.py: Unicode {version}, {len(runs)} ranges")
    return 0


if __name__ == "__main__":
    sys.exit(main())
