"""The verbs beyond /imagine end to end (issue 11), through the real bot and the local Discord.

On the local provider: /describe of an upload → four suggestions that follow from it → pressing one runs
/imagine with it; /blend of three uploads → a grid with buttons → U2; ✉️ → the seed, privately; Cancel on
a running job → stopped at the provider too, and the member is told so; Remix on → V1 opens the prompt,
the edit makes the variation; Custom Zoom's modal on an upscale; Animate (High motion) → an MP4 (container
and frame count checked) → Extend → a longer one. On useapi's simulator: describe, blend, seed, cancel,
Remix, Custom Zoom and video (Animate → four clips → U2 → Extend), with the simulator's log showing each
call. On APIFrame's: describe, blend and video, then a video over the channel's upload limit re-encoded or
linked. On ImaginePro's (cancel only): Cancel reaches its ``Cancel Job``, the commands are not registered,
no ✉️ is drawn, and a stale ✉️ is answered politely. A /blend killed between its defer and its job is
explained at the next start, and a Remix and a Custom Zoom box open across that kill still make their job,
or say politely that it is gone.
"""

from __future__ import annotations

import base64
import io
import json
import re
import signal
import sqlite3
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat

from bot.core import crashpoints
from cogs.imagine import NOT_STARTED
from localdiscord import LocalDiscord
from providersim import SimServer, simulator
from providersim._video import BASE_FRAMES, EXTEND_FRAMES
from tests.e2e.harness import BotProcess, button_ids, download, press_on_older_message
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


async def cancel_running(ld: LocalDiscord, prompt: str, sim: SimServer | None = None) -> tuple[str, str]:
    """Start a job, press Cancel while it runs; (the job message's final text, the private note). On a
    simulator the job is held before its end (its ``stall`` fault), so the press lands while it runs however
    short the simulator's steps are."""
    if sim is not None:
        sim.faults.stall = True
    message_id = await imagine(ld, "alice", prompt)

    def cancellable() -> dict[str, Any] | None:
        message = ld.message(message_id)
        running = message and "%" in (message["content"] or "")
        return message if running and any(c.endswith(":cancel") for c in button_ids(message)) else None

    message = await wait_until(cancellable, within=20.0, what="the running job's Cancel button")
    clicked = await ld.click("alice", message["id"], next(c for c in button_ids(message) if c.endswith(":cancel")))
    note = await private_answer(ld, clicked["interaction_id"], "Cancel")
    if sim is not None:
        sim.faults.stall = False

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


async def remix_and_custom_zoom(ld: LocalDiscord, *, new_member: bool = True) -> dict[str, Any]:
    """Remix on: V1 opens the prompt, the edited prompt makes the variation; Custom Zoom's modal on an
    upscale takes a factor and a prompt. Returns the upscale."""
    if new_member:
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


def last_frame(data: bytes) -> Image.Image:
    import av

    with av.open(io.BytesIO(data)) as container:
        return list(container.decode(video=0))[-1].to_image().convert("RGB")


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two pictures of one size, 0-255."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


async def animate_and_extend(
    ld: LocalDiscord, upscale: dict[str, Any], *, clips: int = 1, frames: int = 24, extended: int = 36
) -> dict[str, Any]:
    """Animate (High motion) on an upscale → a video that plays: one clip (the local provider's), or four
    (Midjourney's video grid, at useapi and APIFrame) of which U2 picks one; Extend (Low motion) on the clip →
    the same clip, ``extended`` frames long. Returns the video message (for a grid: the four clips)."""
    video = await final(ld, await press(ld, "erin", upscale, "animate_high"), within=40.0)
    names = [a["filename"] for a in video["attachments"]]
    assert names == (["video.mp4"] if clips == 1 else [f"video_{n}.mp4" for n in range(1, clips + 1)]), names
    for attachment in video["attachments"]:
        container, count, size = video_facts(await download(attachment["url"]))
        assert "mp4" in container and count == frames and size[0] % 2 == 0, (container, count, size)
    actions = [c.split(":")[2] for c in button_ids(video) if c.startswith("img1:")]
    clip = video
    if clips > 1:
        assert actions == ["u1", "u2", "u3", "u4"], actions
        clip = await final(ld, await press(ld, "erin", video, "u2"), within=40.0)
        picked = last_frame(await download(clip["attachments"][0]["url"]))
        first, second = [last_frame(await download(a["url"])) for a in video["attachments"][:2]]
        assert difference(picked, second) < difference(picked, first), "U2 shows the second clip"
        actions = [c.split(":")[2] for c in button_ids(clip) if c.startswith("img1:")]
    assert actions[:2] == ["extend_high", "extend_low"], actions
    longer = await final(ld, await press(ld, "erin", clip, "extend_low"), within=40.0)
    _, more, _ = video_facts(await download(longer["attachments"][0]["url"]))
    assert more == extended, more
    return video


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
    video = await animate_and_extend(ld, upscale)
    # A clip too large to attach, with no public URL for the bot to serve it from: said plainly, and how to fix.
    ld.set_limits({"attachment_size_limit": 300})
    longer_id = await press(ld, "erin", video, "extend_high")

    def told() -> str | None:
        message = ld.message(longer_id)
        return message["content"] if message and "WEBHOOK_PUBLIC_URL" in (message["content"] or "") else None

    text = await wait_until(told, within=40.0, what="the too-large note")
    assert "larger than this channel takes, so it is not attached" in text and not ld.message(longer_id)["attachments"]
    ld.set_limits({"attachment_size_limit": 10 * 1024 * 1024})
    # Vary (Region) without a public URL for the editor: the button says privately how to give the bot one.
    clicked = await ld.click("erin", upscale["id"], next(c for c in button_ids(upscale) if c.endswith(":vary_region")))
    assert "WEBHOOK_PUBLIC_URL" in await private_answer(ld, clicked["interaction_id"], "WEBHOOK_PUBLIC_URL")


@pytest.fixture
async def sim_bot(start_bot: Callable[..., Any]) -> Any:
    sims: list[SimServer] = []

    async def factory(name: str, *, public: bool = False) -> tuple[BotProcess, SimServer]:
        # Short steps: every job here is seen to its end, and Cancel holds its job (cancel_running).
        sim = simulator(name, api_key=API_KEY, step_seconds=0.15, steps=3)
        await sim.start()
        sims.append(sim)
        options = {"poll_interval": 0.1, "max_poll_interval": 0.3, "min_request_interval": 0.0}
        prefix = name.upper()
        port = free_port()
        # public: the bot's web server stands for its public URL (the editor, videos served by the bot).
        extra = {"WEBHOOK_PUBLIC_URL": f"http://127.0.0.1:{port}/"} if public else {}
        bot = await start_bot(
            PROVIDER=name, **{f"{prefix}_API_KEY": API_KEY, f"{prefix}_BASE_URL": sim.api_base_url,
                              f"{prefix}_OPTIONS": json.dumps(options)},
            WEBHOOK_ENABLED="true", WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(port),
            WEBHOOK_SECRET="e2e-webhook-secret-0123456789abcdef", **extra,
        )  # fmt: skip
        return bot, sim

    yield factory
    for sim in sims:
        await sim.stop()


async def test_verbs_on_useapi(ld: LocalDiscord, sim_bot: Any) -> None:
    """useapi's verbs end to end; last, a clip too large to attach that useapi's link must not show (it leads
    back to the operator's account): the bot serves it itself, under its own signed link, and it plays."""
    bot, sim = await sim_bot("useapi", public=True)
    await describe_then_pick(ld, bot)
    assert any(r["path"] == "/v2/jobs/describe" for r in sim.requests), "describe went to useapi"
    grid = await blend_then_upscale(ld, bot)
    blends = [r for r in sim.requests if r["path"] == "/v2/jobs/blend"]
    assert len(blends) == 1 and len(blends[0]["body"]["blendUrls"]) == 3
    assert blends[0]["body"]["blendDimensions"] == "Landscape"
    text = await seed_answer(ld, grid)
    assert "seed of job" in text and any(r["path"] == "/v2/jobs/seed_async" for r in sim.requests), text
    content, note = await cancel_running(ld, "a slow moonrise", sim)
    assert "Cancelled by its owner" in content
    assert "image service was told to stop" in note, note
    cancels = [r for r in sim.requests if r["path"] == "/v2/jobs/cancel/"]
    assert len(cancels) == 1 and cancels[0]["status"] == 200, sim.requests[-3:]
    upscale = await remix_and_custom_zoom(ld)
    buttons = [r["body"] for r in sim.requests if r["path"] == "/v2/jobs/button" and r["status"] == 200]
    assert any(b["button"] == "V1" and b.get("prompt") == "a red valley at night --ar 3:2" for b in buttons), buttons
    assert any(b["button"] == "Custom Zoom" and b["prompt"].endswith("wider --zoom 1.5") for b in buttons), buttons
    # Video (mj-verbs.md §4.4): Animate on the upscale, U2 on the four clips, Extend on the picked clip.
    video = await animate_and_extend(ld, upscale, clips=4, frames=BASE_FRAMES, extended=BASE_FRAMES + EXTEND_FRAMES)
    labels = [r["body"]["button"] for r in sim.requests if r["path"] == "/v2/jobs/button" and r["status"] == 200]
    assert labels[-3:] == ["Animate (High motion)", "U2", "Extend (Low motion)"], labels

    # U3 where nothing fits: not useapi's link (shareable_links=False) but the bot's own, which plays the clip.
    ld.set_limits({"attachment_size_limit": 300})
    served_id = await press(ld, "erin", video, "u3")

    def served() -> dict[str, Any] | None:
        message = ld.message(served_id)
        return message if message and "/media/" in (message["content"] or "") else None

    content = (await wait_until(served, within=40.0, what="the bot's link to the clip"))["content"]
    assert "larger than this channel takes" in content and sim.public_url not in content, content
    link = re.search(r"http://127\.0\.0\.1:\d+/media/[A-Za-z0-9%\-]+\.[A-Za-z0-9%\-]+", content)  # _ is %5F
    assert link is not None, content
    container, count, _ = video_facts(await download(link[0]))
    assert "mp4" in container and count == BASE_FRAMES, bot.log()


async def test_verbs_not_offered_are_not_shown(ld: LocalDiscord, sim_bot: Any) -> None:
    bot, sim = await sim_bot("imaginepro")
    # Cancel is the one verb ImaginePro offers (its `Cancel Job` button, P§3.4): the log shows the call.
    content, note = await cancel_running(ld, "a slow tide", sim)
    assert "Cancelled by its owner" in content and "image service was told to stop" in note, note
    cancels = [r for r in sim.requests if r["path"].endswith("/button") and r["body"].get("button") == "Cancel Job"]
    assert len(cancels) == 1 and cancels[0]["status"] == 200, sim.requests[-3:]
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
    pressed = await press_on_older_message(ld, "alice", channel, button)
    assert "does not offer that" in await private_answer(ld, pressed["interaction_id"], "offer")
    # A stale Animate: the job lists it (as one drawn by a provider that made video), ImaginePro makes none.
    database = sqlite3.connect(bot.workdir / "data" / "imagine-bot.db")
    with database:
        database.execute("UPDATE jobs SET actions = ? WHERE id = ?", (json.dumps(["u1", "animate_high"]), job_id))
    database.close()
    button = {"type": 2, "style": 2, "label": "Animate (High motion)", "custom_id": f"img1:{job_id}:animate_high"}
    pressed = await press_on_older_message(ld, "alice", channel, button)
    assert "does not offer that" in await private_answer(ld, pressed["interaction_id"], "offer")
    assert not [r for r in sim.requests if r["path"].endswith("/button") and "Animate" in str(r["body"])]


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


async def test_verbs_on_apiframe_and_video_over_the_limit(ld: LocalDiscord, sim_bot: Any) -> None:
    """APIFrame's video (mj-verbs.md §7.7): Animate → four clips → U2 picks one (no call: APIFrame extends a
    clip by its index) → Extend. Then a video over the channel's upload limit: re-encoded smaller when that
    fits (and the message says so), linked when even that does not (the link serves the clip)."""
    bot, sim = await sim_bot("apiframe")
    ld.add_user("erin")
    # APIFrame offers describe and blend too (§7.1, §7.4): each end to end here, on the same bot.
    await describe_then_pick(ld, bot)
    assert any(r["path"] == "/describe" and r["status"] == 200 for r in sim.requests), "describe went to APIFrame"
    blended = await blend_then_upscale(ld, bot)
    assert next(r for r in sim.requests if r["path"] == "/blend")["body"]["dimension"] == "landscape"
    assert blended["attachments"]
    # Remix and Custom Zoom (§7.6): "prompt" on /variations is the remix prompt; Custom Zoom is /outpaint's ratio.
    upscale = await remix_and_custom_zoom(ld, new_member=False)
    calls = {r["path"]: r["body"] for r in sim.requests if r["status"] == 200}
    assert calls["/variations"]["prompt"] == "a red valley at night --ar 3:2", calls["/variations"]
    assert calls["/outpaint"]["zoom_ratio"] == "1.5" and calls["/outpaint"]["prompt"].endswith("wider"), calls
    video = await animate_and_extend(ld, upscale, clips=4, frames=BASE_FRAMES, extended=BASE_FRAMES + EXTEND_FRAMES)
    calls = {r["path"]: r["body"] for r in sim.requests if r["status"] == 200}
    assert calls["/imagine-video"]["motion"] == "high" and calls["/imagine-video"]["image_url"].endswith("upscale.png")
    assert calls["/imagine-video-extend"]["index"] == "2" and calls["/imagine-video-extend"]["motion"] == "low"

    # The fourth clip, one byte over the limit: re-encoded smaller, and the message says so.
    size = video["attachments"][3]["size"]
    ld.set_limits({"attachment_size_limit": size - 1})
    smaller = await final(ld, await press(ld, "erin", video, "u4"), within=40.0)
    assert "re-encoded smaller" in smaller["content"], smaller["content"]
    attachment = smaller["attachments"][0]
    assert attachment["filename"] == "video.mp4" and attachment["size"] < size, attachment
    container, count, _ = video_facts(await download(attachment["url"]))
    assert "mp4" in container and count == BASE_FRAMES

    # The third, where nothing fits: the link to the provider's clip, which serves it.
    ld.set_limits({"attachment_size_limit": 300})
    linked_id = await press(ld, "erin", video, "u3")

    def told() -> dict[str, Any] | None:
        message = ld.message(linked_id)
        return message if message and "larger than this channel takes" in (message["content"] or "") else None

    linked = await wait_until(told, within=40.0, what="the clip's link")
    assert not linked["attachments"] and "larger than this channel takes" in linked["content"], linked["content"]
    link = urllib.parse.unquote(linked["content"].split("<", 2)[-1].split(">", 1)[0])
    assert "Clip #3" in linked["content"], linked["content"]
    assert link.startswith(sim.public_url) and link.endswith("clip_3.mp4"), linked["content"]
    container, count, _ = video_facts(await download(link))
    assert "mp4" in container and count == BASE_FRAMES, bot.log()


async def test_blend_and_modals_across_a_kill(ld: LocalDiscord, start_bot: Callable[..., Any]) -> None:
    """A Remix box and a Custom Zoom box are open when a /blend kills the bot between its defer and its stored
    job (the crash point ``after_defer``, as tests/faults/test_crash_points.py aims it). After the start: the
    blend's "thinking…" message says it was not started (the interaction ledger; nothing was drawn), the
    Remix box makes its variation with the edited prompt, and the Custom Zoom box, whose upscale was removed
    from the database meanwhile, gets a polite private answer and makes nothing."""
    # after_defer is reached by the /imagine (1), the U1 (2) and the /blend (3); opening a box defers nothing.
    bot = await start_bot(LOCAL_STEP_SECONDS="0.2", LOCAL_STEPS="2", **{crashpoints.ENV: "after_defer:3"})
    ld.add_user("erin")
    settings = await ld.invoke("erin", "imagine", "settings", {"remix": True})
    await private_answer(ld, settings["interaction_id"], "Remix")
    grid = await final(ld, await imagine(ld, "erin", "a quiet harbour --ar 3:2"), within=30.0)
    upscale = await final(ld, await press(ld, "erin", grid, "u1"), within=30.0)
    remix = await open_box(ld, "erin", grid, "v1")
    zoom = await open_box(ld, "erin", upscale, "custom_zoom")
    images = {"image1": upload((200, 40, 40), name="red.png"), "image2": upload((40, 40, 200), name="blue.png")}
    blend = await ld.invoke("erin", "imagine", "blend", images)
    process = bot.process
    assert process is not None
    await wait_until(lambda: process.returncode is not None, within=30, what="the bot to die at the crash point")
    assert process.returncode == -signal.SIGKILL, bot.log()
    thinking = await response_message_id(ld, blend["interaction_id"])
    assert ld.message(thinking)["_loading"], "the blend was deferred, and nothing stored"

    upscale_job = next(c for c in button_ids(upscale) if c.startswith("img1:")).split(":")[1]
    database = sqlite3.connect(bot.workdir / "data" / "imagine-bot.db")
    with database:
        database.execute("DELETE FROM jobs WHERE id = ?", (upscale_job,))
        stored = database.execute("SELECT count(*) FROM jobs WHERE action = 'blend'").fetchone()[0]
    database.close()
    assert stored == 0
    del bot.env[crashpoints.ENV]
    await bot.start()

    def explained() -> str | None:
        content = (ld.message(thinking) or {}).get("content") or ""
        return content if NOT_STARTED in content else None

    assert "Blend" in await wait_until(explained, within=30.0, what="the blend's message to say it was not started")
    submitted = await ld.submit_modal(remix["id"], {"prompt": "a quiet harbour at night --ar 3:2"})
    remixed = await final(ld, await response_message_id(ld, submitted["interaction_id"]), within=30.0)
    assert "a quiet harbour at night" in remixed["content"] and remixed["attachments"], remixed["content"]
    gone = await ld.submit_modal(zoom["id"], {"zoom": "1.5", "prompt": "a quiet harbour, wider"})
    assert "no longer known" in await private_answer(ld, gone["interaction_id"], "no longer known")
    assert "wider" not in json.dumps(ld.messages("imagine")), "nothing was made for the gone job"
    tasks = [json.loads(p.read_text()) for p in (bot.workdir / "data" / "local-provider").glob("*/task.json")]
    assert not [t for t in tasks if t.get("kind") == "blend"], "the blend never reached the provider"
    assert "Traceback" not in bot.log(), bot.log()
