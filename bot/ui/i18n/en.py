"""English: the source every other language is checked against, and the fallback for a missing key.

The error reasons' sentences stay in ``bot/core/models.py`` (the core's source of truth); they are
taken in here as ``reason.<value>`` so every language translates the same keys.
"""

from __future__ import annotations

from bot.core.models import ErrorReason

STRINGS: dict[str, str] = {
    # job statuses, as a job's message shows them
    "status.queued": "Waiting to start",
    "status.submitted": "Starting",
    "status.running": "Drawing",
    "status.completed": "Done",
    "status.failed": "Failed",
    "status.moderated": "Blocked",
    "status.cancelled": "Cancelled",
    "status.timed_out": "Timed out",
    # what a job's message says it was made from
    "action.upscale": "Image #{tile}",
    "action.variation": "Variations of image #{tile}",
    "action.reroll": "Reroll",
    "action.vary_strong": "Vary (Strong)",
    "action.vary_subtle": "Vary (Subtle)",
    "action.zoom_2x": "Zoom Out 2x",
    "action.zoom_1_5x": "Zoom Out 1.5x",
    "action.pan_left": "Pan Left",
    "action.pan_right": "Pan Right",
    "action.pan_up": "Pan Up",
    "action.pan_down": "Pan Down",
    "action.upscale_subtle": "Upscale (Subtle)",
    "action.upscale_creative": "Upscale (Creative)",
    # a job's message
    "gate.servers_only": "The image bot works in servers only.",
    "job.none": "There is no job with that id in this server.",
    "job.own_only": "You can show your own jobs only.",
    "job.removed": "A moderator removed that job's image, so it cannot be shown again.",
    "job.gone": "The image of that job is no longer available from the image service.",
    "job.jump": "[jump to the job]({link})",
    "job.already_requested": "{what} was already requested for this image.",
    "job.already_requested_at": "{what} was already requested for this image: {link}",
    "failure.internal": "Something went wrong on our side; nothing was charged. Please try again.",
    "failure.save": "The bot could not save your request just now; nothing was charged. Please try again.",
    "off.imagine": "Image generation is switched off right now.",
    "off.cancel": "Cancelling is switched off right now.",
    "off.lists": "Job lists are switched off right now.",
    "imagine.unknown_image": "That image is no longer known to the bot.",
    "imagine.button_unavailable": "That button is not available on this image.",
    "cancel.label": "Cancel",
    "cancel.unknown": "That job is no longer known to the bot.",
    "cancel.not_yours": "Only the member who started this job, or a moderator, can cancel it.",
    "cancel.ended": "That job has already ended.",
    "jobs.title": "Your jobs in this server",
    "jobs.not_yours": "That list belongs to someone else; use /jobs for your own.",
    "list.queued": "queued",
    "list.submitted": "submitted",
    "list.running": "running",
    "list.completed": "completed",
    "list.failed": "failed",
    "list.moderated": "moderated",
    "list.cancelled": "cancelled",
    "list.timed_out": "timed out",
    "list.removed": "removed by a moderator",
    "list.jump": "[jump]({link})",
    "list.empty": "No jobs.",
    "list.empty_page": "No jobs on this page.",
    "list.page": "page {page}",
    "settings.saved": "Saved.",
    "settings.aspect_unset": "not set (1:1)",
    "settings.none": "none",
    "settings.on": "on",
    "settings.off": "off",
    "settings.text": "**Your settings**\nAspect ratio: {aspect}\nSuffix added to every prompt: {suffix}\n"
    "DM when a job ends: {dm}\n-# Change them with `/settings aspect:` `suffix:` `notify:`; `off` clears the aspect"
    " or suffix.",
    "info.title": "**Your image bot usage in this server**",
    "info.quota": "{used} of {quota} images used today ({left} left)",
    "info.no_quota": "{used} images today (no daily quota)",
    "info.today": "{today}; the day resets {when}.",
    "info.at_a_time": " (up to {limit} at a time)",
    "info.running": "Running: {running} · waiting: {queued}{at_a_time}",
    "info.position": "#{position} in the queue",
    "info.about_to_start": "about to start",
    "info.job": "- job `{id}`: {where}",
    "info.cooldown": "Cooldown: your next job can start {when}.",
    "dm.done": "Your job `{id}` is done",
    "dm.ended": "Your job `{id}` ended: {reason}",
    "job.footer": "Job `{id}`",
    "job.failed_over": "made by {provider}: {previous} could not take it",
    "job.queue_position": " — position {position} in the queue",
    "job.service_said": "The image service said: {detail}",
    # refusals
    "refusal.quota": "You have used {used} of your {limit} images for today in this server.",
    "refusal.quota_resets": " Your quota resets {when}.",
    "refusal.too_many": "You already have {used} jobs running or waiting, and this server allows {limit} at a time."
    " Start another when one has finished.",
    "refusal.cooldown": "You are starting jobs too quickly for this server. You can start your next job {when}.",
    "refusal.channel": "{reason} Use it in {channels}{more}.",
    "refusal.channel_more": " and {count} more",
    "ban.ends": " The block ends {when}.",
    "ban.automatic": " It was set automatically after several blocked prompts.",
    "ban.reason": " Reason: {reason}",
    "blocked.unchecked": "{reason} Nothing was sent.",
    "blocked.matched": "{reason} It was not sent. (Matched: “{excerpt}”.)",
    "blocked.left_one": "-# 1 more blocked prompt today and the bot pauses for you{pause}.",
    "blocked.left_many": "-# {left} more blocked prompts today and the bot pauses for you{pause}.",
    "blocked.pause_for": " for {duration}",
    "pause.now": "That was {strikes} blocked prompts today, so the bot is now paused for you{pause}{ends}.",
    "pause.ends": ". The block ends {when}",
    # durations
    "duration.day": "a day",
    "duration.days": "{n} days",
    "duration.hour": "an hour",
    "duration.hours": "{n} hours",
    "duration.minute": "a minute",
    "duration.minutes": "{n} minutes",
    "duration.one_day": "1 day",
    "duration.one_hour": "1 hour",
    "duration.one_minute": "1 minute",
    "duration.moment": "a moment",
    "duration.join": " ",
}
STRINGS.update({f"reason.{reason.value}": reason.message for reason in ErrorReason})

# Command names, descriptions and choice names, by their English text as written in cogs/; English needs
# no entries (Discord shows the text as written).
COMMANDS: dict[str, str] = {}
