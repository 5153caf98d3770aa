"""The examples of docs/*.md that tests run, so a documented example is the one that works.

An example is a fenced block between ``<!-- NAME -->`` and ``<!-- /NAME -->`` lines.
"""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def doc_block(doc: str, name: str, lang: str) -> str:
    """The text of the ```LANG block marked NAME in docs/DOC."""
    with open(os.path.join(ROOT, "docs", doc), encoding="utf-8") as f:
        text = f.read()
    m = re.search(
        rf"<!-- {re.escape(name)} -->\n```{re.escape(lang)}\n(.*?)```\n<!-- /{re.escape(name)} -->", text, re.S
    )
    assert m, f"docs/{doc} lost its {name} example"
    return m.group(1)
