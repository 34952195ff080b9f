"""The verbs beyond /imagine end to end (issue 11), through the real bot and the local Discord.

On the local provider: /describe of an upload → four suggestions that follow from it → pressing one runs
/imagine with it; /blend of three uploads → a grid with buttons → U2; ✉️ → the seed, privately; Cancel on
a running job → stopped at the provider too, and the member is told so; Remix on → V1 opens the prompt,
the edit makes the variation; Custom Zoom's modal on an upscale; Animate (High motion) → an MP4 (container
and frame count checked) → Extend → a longer one. On useapi's simulator: describe, blend, seed, cancel,
Remix and Custom Zoom, with the simulator's log showing each call. On ImaginePro's (no describe, blend or
seed): the commands are not registered, no ✉️ is drawn, and a stale ✉️ is answered politely.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from localdiscord import LocalDiscord
from providersim import SimServer, simulator
from tests.e2e.harness import BotProcess, button_ids, download
from tests.e2e.test_imagine_flow import final, imagine, press, response_message_id
from tests.helpers import free_port, wait_until

pytestmark = pytest.mark.e2e

API_KEY = "e2e-verbs-key-0123456789"


def upload(colour: tuple[int, int, int], size: tuple[int, int] = (320, 200), name: str = "a.png") -> dict[str, str]:
    image = Image.new("RGB", size, colour)
    # A second shape, so a blend has something to mix besides flat colour.
    image.paste(
        (255 - colour[0], 255 - colour[1], 255 - colour[2]), (size[0] // 4, size[1] // 4, size[0] // 2, size[1] // 2)
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return {"filename": name, "content_type": "image/png", "data_b64": base64.b64encode(buffer.getvalue()).decode()}


async def private_answer(ld: LocalDiscord, interaction_id: str, contains: str, *, within: float = 20.0) -> str:
    """The text of everything visible only to the member that answers ``interaction_id``, once it says ``contains``."""

    def said() -> str | None:
        info = ld.interaction(interaction_id)
        ids = [info["response_message_id"], *info["followup_message_ids"]]
        texts = [m["content"] for m in (ld.message(i) for i in ids if i) if m and not m["_deleted"] and m["content"]]
        text = "\n".join(texts)
        return text if contains in text else None

    return await wait_until(said, within=within, what=f"an answer containing {contains!r}")


async def describe_then_pick(ld: LocalDiscord, bot: BotProcess) -> list[str]:
    """/describe of a wide, dark blue upload; the suggestions follow from it; pressing 2 imagines the second."""
    invoked = await ld.invoke("alice", "imagine", "describe", {"image": upload((20, 40, 140), (480, 270))})
    message_id = await response_message_id(ld, invoked["interaction_id"])

    def described() -> dict[str, Any] | None:
        message = ld.message(message_id)
        return message if message and "2\ufe0f\u20e3" in (message["content"] or "") else None

    message = await wait_until(described, within=30.0, what="the /describe answer")
    text = message["content"]
    lines = [line for line in text.split("\n\n")[1:] if line]
    assert len(lines) == 4, text
    assert all("--ar 16:9" in line for line in lines), text  # the upload's shape
    assert "navy" in text or "blue" in text, text  # its colour
    assert [c.rsplit(":", 1)[1] for c in button_ids(message)] == ["1", "2", "3", "4"], bot.log()
    second = lines[1].split(" ", 1)[1]
    picked = await ld.click("bob", message["id"], button_ids(message)[1])
    grid = await final(ld, await response_message_id(ld, picked["interaction_id"]), within=30.0)
    assert grid["attachments"], grid["content"]
    assert second.split(",")[0].replace("\\", "") in grid["content"].replace("\\", "")
    return lines


async def blend_then_upscale(ld: LocalDiscord, bot: BotProcess) -> dict[str, Any]:
    options = {
        "image1": upload((230, 30, 30), name="red.png"),
        "image2": upload((30, 200, 40), name="green.png"),
        "image3": upload((40, 40, 220), name="blue.png"),
        "dimensions": "3:2",
    }
    invoked = await ld.invoke("carol", "imagine", "blend", options)
    grid = await final(ld, await response_message_id(ld, invoked["interaction_id"]), within=30.0)
    actions = [c.split(":")[2] for c in button_ids(grid) if c.startswith("img1:")]
    assert actions[:9] == ["u1", "u2", "u3", "u4", "reroll", "v1", "v2", "v3", "v4"], bot.log()
    image = Image.open(io.BytesIO(await download(grid["attachments"][0]["url"]))).convert("RGB")
    assert abs(image.width / image.height - 3 / 2) < 0.05
    upscale = await final(ld, await press(ld, "carol", grid, "u2"), within=30.0)
    assert upscale["attachments"] and "Image #2" in upscale["content"]
    return grid


async def seed_answer(ld: LocalDiscord, message: dict[str, Any]) -> str:
    seed_id = next(c for c in button_ids(message) if c.endswith(":seed"))
    pressed = await ld.click("carol", message["id"], seed_id)
    text = await private_answer(ld, pressed["interaction_id"], "seed")
    info = ld.interaction(pressed["interaction_id"])
    assert all(ld.message(m)["_ephemeral"] for m in [info["response_message_id"], *info["followup_message_ids"]] if m)
    return text


async def cancel_running(ld: LocalDiscord, prompt: str) -> tuple[str, str]:
    """Start a job, press Cancel while it runs; (the job message's final text, the private note)."""
    message_id = await imagine(ld, "alice", prompt)

    def cancellable() -> dict[str, Any] | None:
        message = ld.message(message_id)
        running = message and "%" in (message["content"] or "")
        return message if running and any(c.endswith(":cancel") for c in button_ids(message)) else None

    message = await wait_until(cancellable, within=20.0, what="the running job's Cancel button")
    clicked = await ld.click("alice", message["id"], next(c for c in button_ids(message) if c.endswith(":cancel")))
    note = await private_answer(ld, clicked["interaction_id"], "Cancel")

    def ended() -> str | None:
        content = ld.message(message_id)["content"]
        return content if "❌" in content else None

    return await wait_until(ended, within=20.0, what="the job to show it was cancelled"), note


async def open_box(ld: LocalDiscord, user: str, message: dict[str, Any], action: str) -> dict[str, Any]:
    """Press ``action`` on ``message`` and return the interaction once it answered with a modal."""
    custom_id = next(c for c in button_ids(message) if c.endswith(f":{action}"))
    clicked = await ld.click(user, message["id"], custom_id)

    def boxed() -> dict[str, Any] | None:
        info = ld.interaction(clicked["interaction_id"])
        return info if info.get("modal") else None

    return await wait_until(boxed, within=15.0, what=f"the modal of {action}")


async def remix_and_custom_zoom(ld: LocalDiscord) -> dict[str, Any]:
    """Remix on: V1 opens the prompt, the edited prompt makes the variation; Custom Zoom's modal on an
    upscale takes a factor and a prompt. Returns the upscale."""
    ld.add_user("erin")
    settings = await ld.invoke("erin", "imagine", "settings", {"remix": True})
    await private_answer(ld, settings["interaction_id"], "Remix")
    grid = await final(ld, await imagine(ld, "erin", "a green valley --ar 3:2"), within=30.0)
    box = await open_box(ld, "erin", grid, "v1")
    assert "a green valley" in json.dumps(box["modal"]), box["modal"]
    # A parameter the parser refuses comes back privately, and nothing is made.
    refused = await ld.submit_modal(box["id"], {"prompt": "a red valley --chaos 500"})
    assert "--chaos" in await private_answer(ld, refused["interaction_id"], "chaos")
    box = await open_box(ld, "erin", grid, "v1")
    submitted = await ld.submit_modal(box["id"], {"prompt": "a red valley at night --ar 3:2"})
    remixed = await final(ld, await response_message_id(ld, submitted["interaction_id"]), within=30.0)
    assert "a red valley at night" in remixed["content"] and remixed["attachments"], remixed["content"]

    upscale = await final(ld, await press(ld, "erin", remixed, "u1"), within=30.0)
    box = await open_box(ld, "erin", upscale, "custom_zoom")
    fields = json.dumps(box["modal"])
    assert '"zoom"' in fields and "a red valley at night" in fields, fields
    submitted = await ld.submit_modal(box["id"], {"zoom": "1.5", "prompt": "a red valley at night, wider"})
    zoomed = await final(ld, await response_message_id(ld, submitted["interaction_id"]), within=30.0)
    assert "wider" in zoomed["content"] and zoomed["attachments"], zoomed["content"]
    return upscale


def video_facts(data: bytes) -> tuple[str, int, tuple[int, int]]:
    """(container format, frame count, size) of a video, decoded."""
    import av

    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
        return container.format.name, len(frames), (frames[0].width, frames[0].height)


async def animate_and_extend(ld: LocalDiscord, upscale: dict[str, Any]) -> None:
    """Animate (High motion) on an upscale → an MP4 that plays; Extend → the same clip, longer."""
    video = await final(ld, await press(ld, "erin", upscale, "animate_high"), within=40.0)
    attachment = video["attachments"][0]
    assert attachment["filename"] == "video.mp4", attachment
    container, frames, size = video_facts(await download(attachment["url"]))
    assert "mp4" in container and frames == 24 and size[0] % 2 == 0, (container, frames, size)
    assert [c.split(":")[2] for c in button_ids(video) if c.startswith("img1:")][:2] == ["extend_high", "extend_low"]
    longer = await final(ld, await press(ld, "erin", video, "extend_low"), within=40.0)
    _, more, _ = video_facts(await download(longer["attachments"][0]["url"]))
    assert more == 36, more


async def test_verbs_on_the_local_provider(ld: LocalDiscord, start_bot: Callable[..., Any]) -> None:
    bot = await start_bot(LOCAL_STEP_SECONDS="0.5", LOCAL_STEPS="4")
    await describe_then_pick(ld, bot)
    grid = await blend_then_upscale(ld, bot)
    text = await seed_answer(ld, grid)
    assert "seed of job" in text and "--seed " in text, text
    content, note = await cancel_running(ld, "a slow sunrise")
    assert "Cancelled by its owner" in content
    assert "image service was told to stop" in note, note
    tasks = [json.loads(p.read_text()) for p in (bot.workdir / "data" / "local-provider").glob("*/task.json")]
    assert any(t.get("cancelled") for t in tasks), "the local provider's task was marked cancelled"
    upscale = await remix_and_custom_zoom(ld)
    await animate_and_extend(ld, upscale)
    # Vary (Region) without a public URL for the editor: the button says privately how to give the bot one.
    clicked = await ld.click("erin", upscale["id"], next(c for c in button_ids(upscale) if c.endswith(":vary_region")))
    assert "WEBHOOK_PUBLIC_URL" in await private_answer(ld, clicked["interaction_id"], "WEBHOOK_PUBLIC_URL")


@pytest.fixture
async def sim_bot(start_bot: Callable[..., Any]) -> Any:
    sims: list[SimServer] = []

    async def factory(name: str) -> tuple[BotProcess, SimServer]:
        sim = simulator(name, api_key=API_KEY, step_seconds=0.4, steps=4)
        await sim.start()
        sims.append(sim)
        options = {"poll_interval": 0.1, "max_poll_interval": 0.3, "min_request_interval": 0.0}
        prefix = name.upper()
        bot = await start_bot(
            PROVIDER=name, **{f"{prefix}_API_KEY": API_KEY, f"{prefix}_BASE_URL": sim.api_base_url,
                              f"{prefix}_OPTIONS": json.dumps(options)},
            WEBHOOK_ENABLED="true", WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(free_port()),
            WEBHOOK_SECRET="e2e-webhook-secret-0123456789abcdef",
        )  # fmt: skip
        return bot, sim

    yield factory
    for sim in sims:
        await sim.stop()


async def test_verbs_on_useapi(ld: LocalDiscord, sim_bot: Any) -> None:
    bot, sim = await sim_bot("useapi")
    await describe_then_pick(ld, bot)
    assert any(r["path"] == "/v2/jobs/describe" for r in sim.requests), "describe went to useapi"
    grid = await blend_then_upscale(ld, bot)
    blends = [r for r in sim.requests if r["path"] == "/v2/jobs/blend"]
    assert len(blends) == 1 and len(blends[0]["body"]["blendUrls"]) == 3
    assert blends[0]["body"]["blendDimensions"] == "Landscape"
    text = await seed_answer(ld, grid)
    assert "seed of job" in text and any(r["path"] == "/v2/jobs/seed_async" for r in sim.requests), text
    content, note = await cancel_running(ld, "a slow moonrise")
    assert "Cancelled by its owner" in content
    assert "image service was told to stop" in note, note
    cancels = [r for r in sim.requests if r["path"] == "/v2/jobs/cancel/"]
    assert len(cancels) == 1 and cancels[0]["status"] == 200, sim.requests[-3:]
    await remix_and_custom_zoom(ld)
    buttons = [r["body"] for r in sim.requests if r["path"] == "/v2/jobs/button" and r["status"] == 200]
    assert any(b["button"] == "V1" and b.get("prompt") == "a red valley at night --ar 3:2" for b in buttons), buttons
    assert any(b["button"] == "Custom Zoom" and b["prompt"].endswith("wider --zoom 1.5") for b in buttons), buttons


async def test_verbs_not_offered_are_not_shown(ld: LocalDiscord, sim_bot: Any) -> None:
    bot, _ = await sim_bot("imaginepro")
    guild = ld.state()["guilds"][0]
    commands = {c["name"] for c in ld.world.guild_commands.get(int(guild["id"]), [])}
    assert "imagine" in commands and "describe" not in commands and "blend" not in commands, commands
    grid = await final(ld, await imagine(ld, "alice", "a plain harbour"), within=30.0)
    assert not [c for c in button_ids(grid) if c.endswith(":seed")], bot.log()
    # A stale ✉️ (on a message drawn while a provider offering seeds was configured) gets a polite
    # private answer: the message is posted here with the bot's token, as the earlier bot had drawn it.
    job_id = next(c for c in button_ids(grid) if c.startswith("img1:")).split(":")[1]
    channel = next(c["id"] for c in guild["channels"] if c["name"] == "imagine")
    button = {"type": 2, "style": 2, "emoji": {"name": "\u2709\ufe0f"}, "custom_id": f"img1:{job_id}:seed"}
    async with httpx.AsyncClient() as client:
        posted = await client.post(
            f"{ld.api_base}/channels/{channel}/messages", headers={"Authorization": f"Bot {ld.token}"},
            json={"content": "an older message", "components": [{"type": 1, "components": [button]}]},
        )  # fmt: skip
    posted.raise_for_status()
    pressed = await ld.click("alice", posted.json()["id"], f"img1:{job_id}:seed")
    assert "does not offer that" in await private_answer(ld, pressed["interaction_id"], "offer")


async def test_describe_on_a1111_uses_its_interrogate(ld: LocalDiscord, start_bot: Callable[..., Any]) -> None:
    """An owned backend that captions: /describe of an upload goes to A1111's interrogate, its caption is the
    suggestion, and pressing it runs /imagine on the same backend."""
    sim = simulator("a1111", step_seconds=0.1, steps=2)
    await sim.start()
    try:
        options = {"poll_interval": 0.1, "max_poll_interval": 0.3, "min_request_interval": 0.0, "size": 256}
        await start_bot(PROVIDER="a1111", A1111_BASE_URL=sim.api_base_url, A1111_OPTIONS=json.dumps(options))
        invoked = await ld.invoke("alice", "imagine", "describe", {"image": upload((200, 120, 40), (320, 320))})
        message_id = await response_message_id(ld, invoked["interaction_id"])

        def described() -> dict[str, Any] | None:
            message = ld.message(message_id)
            return message if message and "1\ufe0f\u20e3" in (message["content"] or "") else None

        message = await wait_until(described, within=30.0, what="the /describe answer")
        interrogations = [r for r in sim.requests if r["path"] == "/sdapi/v1/interrogate"]
        assert len(interrogations) == 1 and interrogations[0]["status"] == 200, sim.requests
        lines = [line for line in message["content"].split("\n\n")[1:] if line]
        assert len(lines) == 1 and "landscape" in lines[0], message["content"]
        picked = await ld.click("bob", message["id"], button_ids(message)[0])
        grid = await final(ld, await response_message_id(ld, picked["interaction_id"]), within=30.0)
        assert grid["attachments"], grid["content"]
        assert any(r["path"] == "/sdapi/v1/txt2img" for r in sim.requests), sim.requests
    finally:
        await sim.stop()
