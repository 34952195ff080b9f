"""The playground's markdown renderer, ``localdiscord/playground/markdown.js``, case by case in Chromium.

The module is pure (a string in, plain tokens out), so it runs in a module Web Worker, where there is no
DOM to lean on: any use of one would throw. Playwright serves the playground's own files under a made-up
origin (no server, no bot), the worker parses every case in one go, and Python compares each result
with the case's expected tokens, one pytest param per case. The page beside the worker then draws every
case the way the playground draws messages (``richtext.js``) and reports the elements it made: only the
renderer's fixed set, no event-handler attribute, no link that is not http(s), whatever the input.

Tokens are compared in a compact form: a text token is its string, any other token a tuple of its type
and its fields or children, e.g. ``("strong", "bold", ("em", "it"))`` or ``("link", url, text)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from localdiscord.playground import STATIC_DIR

pytestmark = pytest.mark.timeout(60)

ORIGIN = "http://playground.test"
# As the local Discord serves the page: scripts (workers included) from this origin only.
CSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'"

WORKER = """
import { parseInline, parseMarkdown } from "/playground/markdown.js";
self.onmessage = ({ data }) => {
  self.postMessage(data.map(([kind, input]) => {
    const started = performance.now();
    try {
      const tokens = kind === "inline" ? parseInline(input) : parseMarkdown(input);
      return { tokens, ms: performance.now() - started };
    } catch (error) {
      return { error: String(error), ms: performance.now() - started };
    }
  }));
};
"""

# Parse every case in the worker, then draw every case in the page; both lists in the cases' order.
RUN = """async (cases) => {
  const worker = new Worker("/test/worker.js", { type: "module" });
  const parsed = await new Promise((resolve, reject) => {
    worker.onmessage = (event) => resolve(event.data);
    worker.onerror = (event) => reject(new Error("the worker failed: " + (event.message || "could not load")));
    worker.postMessage(cases);
  });
  worker.terminate();
  const { renderInline, renderMarkdown } = await import("/playground/richtext.js");
  const drawn = cases.map(([kind, input]) => {
    const box = document.createElement("div");
    try {
      (kind === "inline" ? renderInline : renderMarkdown)(input, box);
    } catch (error) {
      return { error: String(error) };
    }
    const elements = [...box.querySelectorAll("*")].map((node) => ({
      tag: node.localName,
      attributes: Object.fromEntries([...node.attributes].map((a) => [a.name, a.value])),
    }));
    return { text: box.textContent, elements };
  });
  return { parsed, drawn };
}"""

HOSTILE = '<img src=x onerror="window.pwnd=1"><script>window.pwnd=2</script>'
LONG_TEXT = "<b>x</b> &amp; " * 8_000  # 120,000 characters of markup-looking text
LONG_OPENERS = "[<(" * 2_000  # 6,000 characters of link and mention openers that never close
LONG_BRACKETS = "[" * 100_000  # read once per bracket, this took 15 s


def case(kind: str, text: str, expected: list[Any], id: str) -> Any:
    return pytest.param(kind, text, expected, id=id)


def inline(text: str, *expected: Any, id: str) -> Any:
    return case("inline", text, list(expected), id)


def blocks(text: str, *expected: Any, id: str) -> Any:
    return case("blocks", text, list(expected), id)


CASES = [
    # Emphasis, each kind, nested, and the markers that do not count.
    inline("**bold**", ("strong", "bold"), id="bold"),
    inline("*italic*", ("em", "italic"), id="italic-star"),
    inline("_italic_", ("em", "italic"), id="italic-underscore"),
    inline("__underline__", ("u", "underline"), id="underline"),
    inline("~~strike~~", ("s", "strike"), id="strike"),
    inline("||spoiler||", ("spoiler", "spoiler"), id="spoiler"),
    inline("a **b** c", "a ", ("strong", "b"), " c", id="bold-mid-sentence"),
    inline("***both***", ("strong", ("em", "both")), id="bold-italic"),
    inline("**bold *and italic***", ("strong", "bold ", ("em", "and italic")), id="italic-inside-bold-at-end"),
    inline("__*underlined italic*__", ("u", ("em", "underlined italic")), id="italic-inside-underline"),
    inline("~~**gone**~~", ("s", ("strong", "gone")), id="bold-inside-strike"),
    inline("||**secret**||", ("spoiler", ("strong", "secret")), id="bold-inside-spoiler"),
    inline("snake_case_name", "snake_case_name", id="underscores-inside-a-word"),
    inline("a * b * c", "a * b * c", id="star-before-a-space"),
    # Unbalanced and crossing markers: what does not close stays as typed.
    inline("**never closed", "**never closed", id="unclosed-bold"),
    inline("*never closed", "*never closed", id="unclosed-italic"),
    inline("~~a ||b", "~~a ||b", id="unclosed-strike-and-spoiler"),
    inline("**bold* text", "*", ("em", "bold"), " text", id="bold-closed-by-a-single-star"),
    inline("**a __b** c__", ("strong", "a __b"), " c__", id="crossing-bold-and-underline"),
    inline("*a **b* c**", ("em", "a **b"), " c**", id="crossing-italic-and-bold"),
    # Inline code: nothing inside is markdown.
    inline("`code`", ("code", "code"), id="inline-code"),
    inline("`**not bold** <b>`", ("code", "**not bold** <b>"), id="inline-code-keeps-markers"),
    inline("``a `tick` b``", ("code", "a `tick` b"), id="double-backticks-hold-a-backtick"),
    inline("say ```x``` now", "say ", ("code", "x"), " now", id="triple-backticks-inline"),
    inline("`a``b`", ("code", "a``b"), id="code-closes-on-a-run-of-the-same-length"),
    inline("``a`", ("code", "`a"), id="code-opened-by-fewer-backticks"),
    inline("``a```", "``a```", id="code-runs-that-never-match"),
    inline("`unclosed", "`unclosed", id="unclosed-backtick"),
    inline("**`x`**", ("strong", ("code", "x")), id="code-inside-bold"),
    inline("`████░░░░`", ("progress", 50), id="progress-bar"),
    inline("`██░`", ("code", "██░"), id="too-short-for-a-progress-bar"),
    # Escapes.
    inline(r"\*not italic\*", "*not italic*", id="escaped-stars"),
    inline(r"\_\_not underlined\_\_", "__not underlined__", id="escaped-underscores"),
    inline(r"\`not code\`", "`not code`", id="escaped-backticks"),
    inline(r"\<@123>", "<@123>", id="escaped-mention"),
    inline(r"\a", r"\a", id="backslash-before-a-plain-letter-stays"),
    inline(r"\\*x*", "\\", ("em", "x"), id="escaped-backslash"),
    inline(r"**a \** b**", ("strong", "a ** b"), id="escaped-marker-inside-bold"),
    # Links: only http(s), their text is text.
    inline("https://example.com/a", ("link", "https://example.com/a", "https://example.com/a"), id="bare-url"),
    inline(
        "see https://example.com/a.",
        "see ",
        ("link", "https://example.com/a", "https://example.com/a"),
        ".",
        id="bare-url-before-a-full-stop",
    ),
    inline("<https://example.com/x>", ("link", "https://example.com/x", "https://example.com/x"), id="angle-url"),
    inline("[label](https://example.com/a)", ("link", "https://example.com/a", "label"), id="masked-link"),
    inline("[label](<http://example.com/a>)", ("link", "http://example.com/a", "label"), id="masked-link-in-angles"),
    inline("[**label**](https://example.com)", ("link", "https://example.com", "**label**"), id="link-text-is-plain"),
    inline(
        "[two\nlines](https://example.com)",
        "[two\nlines](",
        ("link", "https://example.com", "https://example.com"),
        ")",
        id="link-text-on-one-line",
    ),
    inline("[click](javascript:alert(1))", "[click](javascript:alert(1))", id="javascript-link"),
    inline("[click](JavaScript:alert(1))", "[click](JavaScript:alert(1))", id="javascript-link-mixed-case"),
    inline("javascript:alert(1)", "javascript:alert(1)", id="javascript-url"),
    inline("<javascript:alert(1)>", "<javascript:alert(1)>", id="javascript-url-in-angles"),
    inline(
        "[x](data:text/html,<script>alert(1)</script>)", "[x](data:text/html,<script>alert(1)</script>)", id="data-url"
    ),
    inline("ftp://example.com/f", "ftp://example.com/f", id="ftp-url"),
    inline(
        'https://example.com/"onmouseover="alert(1)',
        ("link", 'https://example.com/"onmouseover="alert(1', 'https://example.com/"onmouseover="alert(1'),
        ")",
        id="url-with-quotes",
    ),
    # Mentions, timestamps, custom emoji: tokens with ids, drawn as names and text.
    inline("<@123>", ("mention", "user", "123"), id="user-mention"),
    inline("<@!123>", ("mention", "user", "123"), id="user-nickname-mention"),
    inline("<@&45>", ("mention", "role", "45"), id="role-mention"),
    inline("<#67>", ("mention", "channel", "67"), id="channel-mention"),
    inline("@everyone @here", "@everyone @here", id="everyone-is-text"),
    inline("<@alice>", "<@alice>", id="mention-without-an-id"),
    inline("<t:1700000000:R>", ("timestamp", 1700000000, "R"), id="timestamp-relative"),
    inline("<t:1700000000>", ("timestamp", 1700000000, "f"), id="timestamp-default-style"),
    inline("<t:1700000000:X>", "<t:1700000000:X>", id="timestamp-unknown-style"),
    inline("<t:99999999999999999:R>", "<t:99999999999999999:R>", id="timestamp-out-of-range"),
    inline("<:blob:123> <a:dance:456>", ("emoji", "blob", "123"), " ", ("emoji", "dance", "456"), id="custom-emoji"),
    # Lines: headings, subtext, quotes, lists, empty lines.
    blocks("# Title", ("h1", "Title"), id="heading-1"),
    blocks("## Title", ("h2", "Title"), id="heading-2"),
    blocks("### Title", ("h3", "Title"), id="heading-3"),
    blocks("#### Title", ("line", "#### Title"), id="heading-4-is-text"),
    blocks("#Title", ("line", "#Title"), id="heading-needs-a-space"),
    blocks("-# small print", ("subtext", "small print"), id="subtext"),
    blocks("-# **took** 3s", ("subtext", ("strong", "took"), " 3s"), id="subtext-with-bold"),
    blocks("-#no space", ("line", "-#no space"), id="subtext-needs-a-space"),
    blocks("> quoted *it*", ("quote", "quoted ", ("em", "it")), id="quote"),
    blocks(">>> all\nof **this**", ("quote", "all\nof ", ("strong", "this")), id="quote-to-the-end"),
    blocks("- one\n* two\n  - three", ("li", "one"), ("li", "two"), ("li", "three"), id="list-items"),
    blocks("a\n\nb", ("line", "a"), ("line",), ("line", "b"), id="empty-line"),
    blocks("# Done\n-# in 3 s", ("h1", "Done"), ("subtext", "in 3 s"), id="heading-then-subtext"),
    # Code blocks: everything inside is text, language name dropped.
    blocks(
        "```\n**not bold**\n<b>x</b>\n# no heading\n```",
        ("code_block", "**not bold**\n<b>x</b>\n# no heading"),
        id="code-block",
    ),
    blocks("```py\nprint(1)\n```", ("code_block", "print(1)"), id="code-block-language"),
    blocks("```one line```", ("code_block", "one line"), id="code-block-on-one-line"),
    blocks("```\nnever\nclosed", ("code_block", "never\nclosed"), id="code-block-unclosed"),
    blocks(
        "before\n```\nx\n```\nafter",
        ("line", "before"),
        ("code_block", "x"),
        ("line", "after"),
        id="code-block-between-lines",
    ),
    # Hostile input stays text, whatever it looks like.
    blocks(HOSTILE, ("line", HOSTILE), id="html-tags"),
    blocks("<b>bold?</b> &lt;i&gt;", ("line", "<b>bold?</b> &lt;i&gt;"), id="html-and-entities"),
    inline("**<img src=x onerror=alert(1)>**", ("strong", "<img src=x onerror=alert(1)>"), id="html-inside-bold"),
    inline(
        "[<img src=x>](https://example.com)", ("link", "https://example.com", "<img src=x>"), id="html-as-link-text"
    ),
    inline("`</code><script>alert(1)</script>`", ("code", "</code><script>alert(1)</script>"), id="html-inside-code"),
    blocks(
        "```\n</pre><script>alert(1)</script>\n```",
        ("code_block", "</pre><script>alert(1)</script>"),
        id="html-inside-code-block",
    ),
    blocks("> <iframe src=javascript:alert(1)>", ("quote", "<iframe src=javascript:alert(1)>"), id="html-in-a-quote"),
    blocks(LONG_TEXT, ("line", LONG_TEXT), id="long-markup-text"),
    inline(LONG_OPENERS, LONG_OPENERS, id="long-unclosed-openers"),
    inline(LONG_BRACKETS, LONG_BRACKETS, id="long-unclosed-brackets"),
    blocks("a\n" * 5_000, *[("line", "a")] * 5_000, ("line",), id="many-lines"),
]

# What the renderer may put in the page: its own elements and attributes, nothing from the input.
ELEMENTS = {"div", "blockquote", "pre", "code", "strong", "em", "u", "s", "span", "a", "time", "br"}
ATTRIBUTES = {"class", "title", "href", "rel", "target", "role", "style", "datetime"}
FIELDS = {
    "text": ("text",),
    "code": ("text",),
    "code_block": ("text",),
    "progress": ("percent",),
    "mention": ("kind", "id"),
    "timestamp": ("seconds", "style"),
    "emoji": ("name", "id"),
    "link": ("url", "text"),
}
CONTAINERS = {"line", "subtext", "h1", "h2", "h3", "quote", "li", "strong", "em", "u", "s", "spoiler"}


def compact(token: dict[str, Any]) -> Any:
    """A token as a string (text) or a tuple, checking it has exactly the fields of its type."""
    kind = token["type"]
    if kind in CONTAINERS:
        assert set(token) == {"type", "children"}, token
        return (kind, *[compact(child) for child in token["children"]])
    assert kind in FIELDS, f"unknown token type {kind!r}"
    assert set(token) == {"type", *FIELDS[kind]}, token
    if kind == "text":
        return token["text"]
    return (kind, *[token[name] for name in FIELDS[kind]])


def links(token: dict[str, Any]) -> Iterator[str]:
    if token["type"] == "link":
        yield token["url"]
    for child in token.get("children", []):
        yield from links(child)


@pytest.fixture(scope="module")
def results(browser: Any) -> dict[str, Any]:
    """Every case parsed in the worker and drawn in the page, by case id."""
    served = {f"/playground/{p.name}": p.read_bytes() for p in STATIC_DIR.iterdir() if p.suffix == ".js"}
    served["/test/worker.js"] = WORKER.encode()
    served["/test/"] = b"<!doctype html><title>markdown.js</title>"

    def serve(route: Any) -> None:
        path = route.request.url[len(ORIGIN) :]
        if path not in served:
            route.fulfill(status=404, body="")
            return
        kind = "text/html" if path.endswith("/") else "text/javascript"
        route.fulfill(
            status=200,
            body=served[path],
            headers={"Content-Type": f"{kind}; charset=utf-8", "Content-Security-Policy": CSP},
        )

    context = browser.new_context()
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    context.route(ORIGIN + "/**", serve)
    try:
        page.goto(ORIGIN + "/test/")
        inputs = [[p.values[0], p.values[1]] for p in CASES]
        got = page.evaluate(RUN, inputs)
    finally:
        context.close()
    assert not errors, f"the page threw: {errors}"
    ids = [p.id for p in CASES]
    assert len(set(ids)) == len(ids), "case ids must be unique"
    return {id: (parsed, drawn) for id, parsed, drawn in zip(ids, got["parsed"], got["drawn"], strict=True)}


@pytest.mark.parametrize(("kind", "text", "expected"), CASES)
def test_markdown(kind: str, text: str, expected: list[Any], results: dict[str, Any], request: Any) -> None:
    parsed, drawn = results[request.node.callspec.id]
    assert "error" not in parsed, parsed["error"]
    tokens = [compact(token) for token in parsed["tokens"]]
    assert tokens == expected
    # Linear enough that the longest message Discord allows is nothing (generous for a loaded machine).
    assert parsed["ms"] < 2_000, f"parsing took {parsed['ms']:.0f} ms"
    for url in (url for token in parsed["tokens"] for url in links(token)):
        assert re.match(r"https?://", url), url

    # Drawn as the page draws it: the renderer's own elements only, every character of text as text.
    assert "error" not in drawn, drawn["error"]
    for element in drawn["elements"]:
        assert element["tag"] in ELEMENTS, element
        attributes = element["attributes"]
        assert set(attributes) - ATTRIBUTES <= {a for a in attributes if a.startswith("aria-")}, element
        if "href" in attributes:
            assert re.match(r"https?://", attributes["href"]), element
    if any(marker in text for marker in ("<img", "<script", "<b>", "<iframe")):
        # Markup in the input is in the page as the characters the sender typed.
        assert "<" in drawn["text"] and not any(e["tag"] in {"img", "script", "b", "iframe"} for e in drawn["elements"])


def test_the_renderer_is_a_pure_module() -> None:
    """markdown.js imports nothing and names no DOM, so it runs anywhere a string can be passed."""
    source = (STATIC_DIR / "markdown.js").read_text()
    code = re.sub(r"//.*", "", source)
    assert not re.search(r"^\s*import\b|\bimport\(", code, re.M)
    for name in ("document", "window", "Element", "Node", "innerHTML", "localStorage", "fetch"):
        assert not re.search(rf"\b{name}\b", code), f"markdown.js mentions {name}"
