"""Flame graphs as SVG from folded stacks (py-spy's ``--format raw``), standard library only.

    python3 bench/flame.py STACKS.folded OUT.svg --title "lanmsg listen under a flood"

A folded stack is one line per distinct stack, root first, frames separated by ";", then the
number of samples: ``<module> (x.py:3);main (x.py:9);work (x.py:20) 42``.  Line numbers are
dropped (``work (x.py)``) so that a function is one box however many of its lines were sampled.
Each box is as wide as the share of samples in which its frame was on the stack, its children
stand on it; colour says whose code it is (mailslot.py, lanmsg, the standard library).
"""

from __future__ import annotations

import argparse
import html
import re
import sys

WIDTH = 1200
ROW = 17
MIN_SHARE = 0.002  # boxes narrower than this share of the samples are left out
COLOURS = {"mailslot": "#e8a33d", "lanmsg": "#5b9bd5", "bench": "#a5a5a5", "other": "#9dc183"}


_FRAME = re.compile(r"^\S.* \(.+\)$")  # "function (file:line)"; anything else is a torn sample


def read_folded(lines, drop_leaves: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    """Stacks and their sample counts; stacks whose innermost frame is one of ``drop_leaves``
    (a thread waiting in poll(), say) are left out."""
    stacks: dict[tuple[str, ...], int] = {}
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = tuple(re.sub(r":\d+\)$", ")", f.strip()) for f in stack.split(";") if f.strip())
        if not frames or not all(_FRAME.match(f) for f in frames) or frames[-1] in drop_leaves:
            continue
        stacks[frames] = stacks.get(frames, 0) + int(count)
    return stacks


def _tree(stacks: dict[tuple[str, ...], int]) -> dict:
    root: dict = {"n": 0, "kids": {}}
    for frames, n in stacks.items():
        node = root
        node["n"] += n
        for f in frames:
            node = node["kids"].setdefault(f, {"n": 0, "kids": {}})
            node["n"] += n
    return root


def _colour(frame: str) -> str:
    if "mailslot.py" in frame:
        return COLOURS["mailslot"]
    if "lanmsg/" in frame or "lanmsg\\" in frame:
        return COLOURS["lanmsg"]
    if "bench/" in frame or "inhost" in frame:
        return COLOURS["bench"]
    return COLOURS["other"]


def render(stacks: dict[tuple[str, ...], int], title: str, note: str = "") -> str:
    root = _tree(stacks)
    total = root["n"] or 1
    boxes: list[tuple[int, float, float, str, int]] = []  # depth, x, width, frame, samples

    def walk(node: dict, depth: int, x: float) -> int:
        deepest = depth
        for frame, kid in sorted(node["kids"].items(), key=lambda kv: -kv[1]["n"]):
            w = kid["n"] / total
            if w >= MIN_SHARE:
                boxes.append((depth, x, w, frame, kid["n"]))
                deepest = max(deepest, walk(kid, depth + 1, x))
            x += w
        return deepest

    depth = walk(root, 0, 0.0)
    top = 44
    height = top + (depth + 1) * ROW + 30
    out = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="11">'
        ),
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="15">{html.escape(title)}</text>',
        (
            f'<text x="{WIDTH / 2}" y="34" text-anchor="middle" fill="#555">{html.escape(note)} '
            f"({total:,} samples; hover a box for its share)</text>"
        ),
    ]
    for d, x, w, frame, n in boxes:
        px, pw, py = x * WIDTH, w * WIDTH, top + d * ROW
        label = frame if len(frame) * 6.6 < pw - 4 else frame[: max(0, int((pw - 4) / 6.6) - 2)] + ".."
        out.append(
            f"<g><title>{html.escape(frame)}: {n:,} samples, {100 * n / total:.1f}%</title>"
            f'<rect x="{px:.1f}" y="{py}" width="{max(pw - 0.5, 0.5):.1f}" height="{ROW - 1}" '
            f'fill="{_colour(frame)}" rx="2"/>'
            + (f'<text x="{px + 3:.1f}" y="{py + 12}">{html.escape(label)}</text>' if pw > 20 else "")
            + "</g>"
        )
    legend_y = height - 10
    x = 10
    for name, colour in (
        ("mailslot.py", COLOURS["mailslot"]),
        ("lanmsg", COLOURS["lanmsg"]),
        ("other", COLOURS["other"]),
    ):
        out.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16}" y="{legend_y}">{name}</text>')
        x += 110
    out.append("</svg>")
    return "\n".join(out) + "\n"


def self_shares(stacks: dict[tuple[str, ...], int], top: int = 15) -> list[tuple[str, float]]:
    """The functions most often at the top of the stack (their own code), as shares of all samples."""
    total = sum(stacks.values()) or 1
    own: dict[str, int] = {}
    for frames, n in stacks.items():
        own[frames[-1]] = own.get(frames[-1], 0) + n
    return [(f, n / total) for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folded")
    ap.add_argument("svg")
    ap.add_argument("--title", default="flame graph")
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    with open(args.folded, encoding="utf-8", errors="replace") as f:
        stacks = read_folded(f)
    with open(args.svg, "w", encoding="utf-8") as f:
        f.write(render(stacks, args.title, args.note))
    for frame, share in self_shares(stacks):
        print(f"{100 * share:5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
