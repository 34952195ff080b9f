"""The playground page as ES modules: each one served as a script, reachable from the entry, and none
writing HTML or loading anything from elsewhere (the checks the page's single script had, for all)."""

from __future__ import annotations

import re

import httpx

from localdiscord import LocalDiscord
from localdiscord.playground import STATIC_DIR

MODULES = sorted(p.name for p in STATIC_DIR.glob("*.js"))
IMPORT = re.compile(r'^import\s+\{[^}]*\}\s+from\s+"\./([\w-]+\.js)";$', re.M)


def imports(name: str) -> list[str]:
    return IMPORT.findall((STATIC_DIR / name).read_text())


def test_index_loads_the_entry_as_a_module() -> None:
    page = (STATIC_DIR / "index.html").read_text()
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="app.js">']


async def test_every_module_is_served_as_javascript(ld: LocalDiscord) -> None:
    async with httpx.AsyncClient(base_url=ld.url) as http:
        for name in MODULES:
            response = await http.get(f"/playground/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith("text/javascript"), name
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "script-src 'self'" in response.headers["content-security-policy"]


def test_modules_import_only_each_other_and_all_are_used() -> None:
    reached, todo = set(), ["app.js"]
    while todo:
        name = todo.pop()
        if name in reached:
            continue
        reached.add(name)
        source = (STATIC_DIR / name).read_text()
        # Every import is one of the files beside it, by a relative path; nothing is fetched by a bare name.
        assert len(re.findall(r"^import\b", source, re.M)) == len(imports(name)), f"{name}: an unexpected import"
        assert "import(" not in source, f"{name}: a dynamic import"
        for target in imports(name):
            assert (STATIC_DIR / target).is_file(), f"{name} imports {target}, which is not shipped"
            todo.append(target)
    assert reached == set(MODULES), f"not reachable from app.js: {set(MODULES) - reached}"


def test_each_module_says_what_it_is_for() -> None:
    for name in MODULES:
        first = (STATIC_DIR / name).read_text().splitlines()[0]
        assert first.startswith("// ") and len(first) > 20, f"{name} has no header comment"


def test_no_module_writes_html_or_loads_from_elsewhere() -> None:
    for name in MODULES:
        text = (STATIC_DIR / name).read_text()
        # The only absolute URL allowed is the SVG namespace, an identifier that is never fetched; the
        # scheme strings the link detector looks for ("https://") name no host.
        hosts = set(re.findall(r"https?://([\w.-]+)", text)) - {"www.w3.org"}
        assert not hosts, f"{name} refers to {hosts}"
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{name} uses {sink}"
