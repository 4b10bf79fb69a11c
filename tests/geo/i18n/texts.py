"""The UI texts ccmap writes in Chinese, found in its sources: what the English catalog must
cover (tests/geo/i18n/test_catalog.py)."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# the names each language is called in itself (the language switch): never translated
ENDONYMS = {"中文"}


def js_literals(src: str) -> Iterator[tuple[int, str]]:
    """(line, text) of each string literal of a script outside comments, with literals joined
    by + on both sides of a line break ("a" +\\n "b") taken as one."""
    i, n, prev = 0, len(src), ""
    found: list[tuple[int, int, int, str]] = []  # start, end, line, text
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if c in "\"'`":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            found.append((i, j + 1, src.count("\n", 0, i) + 1, json.loads(
                '"' + src[i + 1:j].replace('\\"', '"').replace('"', '\\"') + '"')
                if c != "`" else src[i + 1:j]))
            i, prev = j + 1, c
            continue
        if c == "/" and prev and prev in "(,=:[!&|?;{}":  # a regex literal
            j, in_class = i + 1, False
            while j < n and src[j] != "\n":
                if src[j] == "\\":
                    j += 2
                    continue
                if src[j] == "[":
                    in_class = True
                elif src[j] == "]":
                    in_class = False
                elif src[j] == "/" and not in_class:
                    break
                j += 1
            i, prev = j + 1, "r"
            continue
        if not c.isspace():
            prev = c
        i += 1
    merged: list[tuple[int, int, int, str]] = []
    for lit in found:
        if merged and re.fullmatch(r"\s*\+\s*", src[merged[-1][1]:lit[0]]) and \
                CJK.search(merged[-1][3] + lit[3]) and "{" in merged[-1][3] + lit[3]:
            start, _, line, text = merged[-1]
            merged[-1] = (start, lit[1], line, text + lit[3])
        else:
            merged.append(lit)
    for _, _, line, text in merged:
        yield line, text


def script_texts() -> dict[str, str]:
    """Every Chinese text of static/js/*.js → where it is."""
    out: dict[str, str] = {}
    for path in sorted((ROOT / "static" / "js").glob("*.js")):
        for line, text in js_literals(path.read_text("utf-8")):
            if CJK.search(text) and text not in ENDONYMS:
                out.setdefault(text, f"{path.name}:{line}")
    return out


TEMPLATE_KEY = re.compile(r"""_\(\s*(["'])((?:(?!\1).)*)\1""", re.DOTALL)


def template_texts(folder: Path) -> dict[str, str]:
    """Every _("…") key of the Jinja templates in folder → where it is."""
    out: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            text = path.read_text("utf-8")
            for m in TEMPLATE_KEY.finditer(text):
                out.setdefault(m.group(2), f"{path.name}:{text.count(chr(10), 0, m.start()) + 1}")
    return out


def untranslated_template_text(path: Path) -> list[str]:
    """The lines of a template with Chinese outside {{ _("…") }} and comments."""
    text = re.sub(r"\{#.*?#\}", "", path.read_text("utf-8"), flags=re.DOTALL)
    text = re.sub(r"\{\{-?\s*_\((?:[^()]|\([^()]*\))*\)[^}]*\}\}", "", text)
    return [line.strip() for line in text.splitlines() if CJK.search(line)]


def reference_labels() -> set[str]:
    """The labels of data/reference's tables (categories, sources, statuses, point types,
    checklist items) and of OSM's road classes."""
    from geo.layers.osm import STREET_CLASSES

    out: set[str] = set(STREET_CLASSES.values())
    for name in ("issue_categories", "issue_sources", "issue_statuses",
                 "test_point_categories"):
        out |= {r["label"] for r in json.loads(
            (ROOT / "data" / "reference" / f"{name}.json").read_text("utf-8"))}

    def walk(node: object) -> None:
        if isinstance(node, dict):
            out.update(v for k, v in node.items() if k == "label" and isinstance(v, str))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(json.loads((ROOT / "data" / "reference" / "checklists.json").read_text("utf-8")))
    return out


def message_template(node: ast.expr) -> str | None:
    """The text of a message argument with each formatted value as {…} (f-strings and
    concatenations of literals), or None when it is not literal text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{x}" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = message_template(node.left), message_template(node.right)
        return left + right if left is not None and right is not None else None
    return None


ERRORS = {"NotFound", "InvalidInput", "InvalidPeriod", "TooLarge", "UnsafeFile", "LimitExceeded",
          "InvalidGeometry", "Unauthorized", "Forbidden", "Locked", "TooManyRequests", "Conflict",
          "ImportRejected", "MalformedJSON", "RowProblem", "CcmapError"}


def _message_args(call: ast.Call) -> list[ast.expr]:
    """The text arguments of an error's construction: its message; a row problem's reason
    (second argument or `reason=`) and `hint=`."""
    if not isinstance(call.func, ast.Name) or call.func.id not in ERRORS:
        return []
    kw = {k.arg: k.value for k in call.keywords if k.arg}
    if call.func.id == "RowProblem":
        reason = call.args[1] if len(call.args) > 1 else kw.get("reason")
        return [a for a in (reason, kw.get("hint")) if a is not None]
    return call.args[:1]


def raised_messages() -> dict[str, str]:
    """Every literal message an error of geo/ or server/ is raised with, and every literal
    reason and hint of a row problem (formatted values as {x}) → where it is."""
    out: dict[str, str] = {}
    for package in ("geo", "server"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Call):
                    for arg in _message_args(node):
                        text = message_template(arg)
                        if text:
                            out.setdefault(text, f"{path.relative_to(ROOT)}:{node.lineno}")
    return out


def error_messages() -> dict[str, str]:
    """Every Chinese message an error of geo/ or server/ is raised with (formatted values as
    {x}) → where it is."""
    return {text: where for text, where in raised_messages().items() if CJK.search(text)}
