"""Issue 14, item 3: the prompt line shows what was sent: the parameters applied (the member's /settings
suffix and aspect, the command's aspect) and the starting image as an inert link, within Discord's limit."""

from __future__ import annotations

from bot.ui.render import MAX_CONTENT, job_content, prompt_line, quote_link
from tests.unit.conftest import make_job

# -- 3. the prompt line ------------------------------------------------------------------------------


def test_the_prompt_line_shows_the_applied_parameters_and_the_starting_image() -> None:
    job = make_job(
        prompt="a red fox",
        prompt_final="a red fox --ar 16:9 --stylize 250 --v 6",
        params={"ar": "16:9", "stylize": 250, "v": "6"},
        image_urls_in=["https://cdn.example.com/start/fox.png?ex=1&hm=2"],
    )
    first = job_content(job).split("\n", 1)[0]
    assert first.startswith("**<https://cdn.example.com/start/fox.png?ex=1&hm=2> a red fox --ar 16:9 --stylize 250")
    assert first.endswith(f"** - <@{job.user_id}>")


def test_a_job_without_a_final_prompt_shows_the_prompt_as_typed() -> None:
    assert prompt_line(make_job(prompt="a cat", prompt_final="")) == "a cat"


def test_a_hostile_prompt_and_link_stay_inert() -> None:
    job = make_job(
        prompt="x",
        prompt_final="@everyone <@123> **bold** [click](https://evil.example) --ar 1:1",
        image_urls_in=["https://x.example/a.png?q=**b**_<@123>)[x](y)` @everyone >"],
    )
    line = prompt_line(job)
    assert "@everyone" not in line.replace("@\u200beveryone", "")
    assert "<@123>" not in line and "\\*\\*bold\\*\\*" in line and "\\[click](" in line
    link = line.split(" ", 1)[0]
    assert link.startswith("<https://x.example/a.png?q=") and link.endswith(">")
    assert not any(c in link[1:-1] for c in "*_`[]()<>@ ")
    # Only http(s) links are shown as links; anything else is named, not drawn.
    assert quote_link("javascript:alert(1)") is None
    assert prompt_line(make_job(prompt_final="a", image_urls_in=["data:image/png;base64,AAAA"])) == "[image] a"


def test_the_prompt_line_stays_within_discords_limit() -> None:
    huge = make_job(prompt_final="*" * 6000, image_urls_in=[f"https://x.example/{'a' * 300}.png"] * 6)
    content = job_content(huge)
    assert len(content) <= MAX_CONTENT and content.rstrip().endswith(f"Job `{huge.id}`")
    assert content.startswith("**<https://x.example/")
