"""Deutsch."""

from __future__ import annotations

STRINGS: dict[str, str] = {
    "status.queued": "Wartet auf den Start",
    "status.submitted": "Wird gestartet",
    "status.running": "Wird gezeichnet",
    "status.completed": "Fertig",
    "status.failed": "Fehlgeschlagen",
    "status.moderated": "Blockiert",
    "status.cancelled": "Abgebrochen",
    "status.timed_out": "Zeit abgelaufen",
    "action.upscale": "Bild #{tile}",
    "action.variation": "Variationen von Bild #{tile}",
    "action.reroll": "Neu würfeln",
    "action.vary_strong": "Variieren (stark)",
    "action.vary_subtle": "Variieren (leicht)",
    "action.zoom_2x": "Herauszoomen 2x",
    "action.zoom_1_5x": "Herauszoomen 1,5x",
    "action.pan_left": "Nach links erweitern",
    "action.pan_right": "Nach rechts erweitern",
    "action.pan_up": "Nach oben erweitern",
    "action.pan_down": "Nach unten erweitern",
    "action.upscale_subtle": "Hochskalieren (leicht)",
    "action.upscale_creative": "Hochskalieren (kreativ)",
    "gate.servers_only": "Der Bild-Bot funktioniert nur in Servern.",
    "job.none": "In diesem Server gibt es keinen Auftrag mit dieser ID.",
    "job.own_only": "Du kannst nur deine eigenen Aufträge anzeigen.",
    "job.removed": "Ein Moderator hat das Bild dieses Auftrags entfernt, darum kann es nicht noch einmal gezeigt"
    " werden.",
    "job.gone": "Das Bild dieses Auftrags ist beim Bilddienst nicht mehr verfügbar.",
    "job.jump": "[zum Auftrag springen]({link})",
    "job.already_requested": "{what} wurde für dieses Bild schon angefordert.",
    "job.already_requested_at": "{what} wurde für dieses Bild schon angefordert: {link}",
    "failure.internal": "Bei uns ist etwas schiefgelaufen; es wurde nichts berechnet. Bitte versuche es noch einmal.",
    "failure.save": "Der Bot konnte deine Anfrage gerade nicht speichern; es wurde nichts berechnet. Bitte versuche"
    " es noch einmal.",
    "off.imagine": "Die Bilderstellung ist gerade abgeschaltet.",
    "off.cancel": "Abbrechen ist gerade abgeschaltet.",
    "off.lists": "Auftragslisten sind gerade abgeschaltet.",
    "imagine.unknown_image": "Dieses Bild kennt der Bot nicht mehr.",
    "imagine.button_unavailable": "Dieser Button ist für dieses Bild nicht verfügbar.",
    "cancel.label": "Abbrechen",
    "cancel.unknown": "Diesen Auftrag kennt der Bot nicht mehr.",
    "cancel.not_yours": "Nur wer diesen Auftrag gestartet hat oder ein Moderator kann ihn abbrechen.",
    "cancel.ended": "Dieser Auftrag ist schon beendet.",
    "jobs.title": "Deine Aufträge in diesem Server",
    "jobs.not_yours": "Diese Liste gehört jemand anderem; nutze /jobs für deine eigene.",
    "list.queued": "wartet",
    "list.submitted": "gesendet",
    "list.running": "läuft",
    "list.completed": "fertig",
    "list.failed": "fehlgeschlagen",
    "list.moderated": "blockiert",
    "list.cancelled": "abgebrochen",
    "list.timed_out": "Zeit abgelaufen",
    "list.removed": "von einem Moderator entfernt",
    "list.jump": "[anzeigen]({link})",
    "list.empty": "Keine Aufträge.",
    "list.empty_page": "Keine Aufträge auf dieser Seite.",
    "list.page": "Seite {page}",
    "settings.saved": "Gespeichert.",
    "settings.aspect_unset": "nicht gesetzt (1:1)",
    "settings.none": "keiner",
    "settings.on": "an",
    "settings.off": "aus",
    "settings.text": "**Deine Einstellungen**\nSeitenverhältnis: {aspect}\nZusatz für jeden Prompt: {suffix}\n"
    "DM, wenn ein Auftrag endet: {dm}\n-# Ändern mit `/settings aspect:` `suffix:` `notify:`; `off` löscht"
    " Seitenverhältnis oder Zusatz.",
    "info.title": "**Deine Nutzung des Bild-Bots in diesem Server**",
    "info.quota": "{used} von {quota} Bildern heute verbraucht ({left} übrig)",
    "info.no_quota": "{used} Bilder heute (kein Tageskontingent)",
    "info.today": "{today}; der Tag wird {when} zurückgesetzt.",
    "info.at_a_time": " (bis zu {limit} gleichzeitig)",
    "info.running": "Laufend: {running} · wartend: {queued}{at_a_time}",
    "info.position": "Platz {position} in der Warteschlange",
    "info.about_to_start": "startet gleich",
    "info.job": "- Auftrag `{id}`: {where}",
    "info.cooldown": "Wartezeit: dein nächster Auftrag kann {when} starten.",
    "dm.done": "Dein Auftrag `{id}` ist fertig",
    "dm.ended": "Dein Auftrag `{id}` wurde beendet: {reason}",
    "job.footer": "Auftrag `{id}`",
    "job.failed_over": "erstellt von {provider}: {previous} konnte den Auftrag nicht annehmen",
    "job.queue_position": " — Platz {position} in der Warteschlange",
    "job.service_said": "Der Bilddienst meldete: {detail}",
    "refusal.quota": "Du hast heute {used} von {limit} Bildern in diesem Server verbraucht.",
    "refusal.quota_resets": " Dein Kontingent wird {when} zurückgesetzt.",
    "refusal.too_many": "Du hast schon {used} Aufträge, die laufen oder warten, und dieser Server erlaubt {limit}"
    " gleichzeitig. Starte einen neuen, sobald einer fertig ist.",
    "refusal.cooldown": "Du startest Aufträge zu schnell für diesen Server. Deinen nächsten Auftrag kannst du {when}"
    " starten.",
    "refusal.channel": "{reason} Nutze ihn in {channels}{more}.",
    "refusal.channel_more": " und {count} weiteren",
    "ban.ends": " Die Sperre endet {when}.",
    "ban.automatic": " Sie wurde nach mehreren blockierten Prompts automatisch gesetzt.",
    "ban.reason": " Grund: {reason}",
    "blocked.unchecked": "{reason} Es wurde nichts gesendet.",
    "blocked.matched": "{reason} Er wurde nicht gesendet. (Treffer: „{excerpt}“.)",
    "blocked.left_one": "-# Noch 1 blockierter Prompt heute, dann pausiert der Bot{pause} für dich.",
    "blocked.left_many": "-# Noch {left} blockierte Prompts heute, dann pausiert der Bot{pause} für dich.",
    "blocked.pause_for": " für {duration}",
    "pause.now": "Das waren heute {strikes} blockierte Prompts, darum ist der Bot jetzt{pause} für dich"
    " pausiert{ends}.",
    "pause.ends": ". Die Sperre endet {when}",
    "duration.day": "einen Tag",
    "duration.days": "{n} Tage",
    "duration.hour": "eine Stunde",
    "duration.hours": "{n} Stunden",
    "duration.minute": "eine Minute",
    "duration.minutes": "{n} Minuten",
    "duration.one_day": "1 Tag",
    "duration.one_hour": "1 Stunde",
    "duration.one_minute": "1 Minute",
    "duration.moment": "einen Moment",
    "duration.join": " ",
    "reason.blocked_prompt": "Dein Prompt enthält ein Wort, das dieser Server nicht erlaubt.",
    "reason.invalid_prompt": "Der Prompt konnte nicht verstanden werden. Prüfe seine Parameter und versuche es"
    " noch einmal.",
    "reason.invalid_image": "Das Bild konnte nicht verwendet werden. Sende ein PNG, JPEG, GIF oder WebP als"
    " öffentlichen Link oder Upload.",
    "reason.prompt_unchecked": "Dein Prompt konnte nicht rechtzeitig mit der Wortliste dieses Servers abgeglichen"
    " werden. Versuche einen kürzeren oder einfacheren Prompt.",
    "reason.member_banned": "Du bist in diesem Server für den Bild-Bot gesperrt.",
    "reason.quota_reached": "Du hast alle deine Bilder für heute in diesem Server verbraucht.",
    "reason.too_many_jobs": "Du hast schon so viele laufende Aufträge, wie dieser Server erlaubt. Warte, bis einer"
    " fertig ist.",
    "reason.cooldown": "Du startest Aufträge zu schnell für diesen Server. Warte einen Moment und versuche es noch"
    " einmal.",
    "reason.channel_not_allowed": "Der Bild-Bot wird in diesem Kanal nicht genutzt.",
    "reason.button_restricted": "In diesem Server können nur die Person, der das Bild gehört, oder Moderatoren"
    " seine Buttons nutzen.",
    "reason.not_a_moderator": "Dieser Befehl ist für die Moderatoren dieses Servers.",
    "reason.banned_prompt": "Der Bilddienst hat diesen Prompt nach seinen Inhaltsregeln abgelehnt.",
    "reason.image_blocked": "Der Bilddienst hat das Ergebnis nach seinen Inhaltsregeln abgelehnt.",
    "reason.invalid_parameter": "Einer der Parameter des Prompts ist für den Bilddienst ungültig.",
    "reason.invalid_link": "Der Bilddienst konnte den Bildlink im Prompt nicht lesen.",
    "reason.already_requested": "Dieser Button wurde für dieses Bild schon benutzt.",
    "reason.button_not_found": "Der Bilddienst bietet diesen Button für dieses Bild nicht mehr an.",
    "reason.unsupported_action": "Der Bilddienst bietet diese Aktion nicht an.",
    "reason.provider_failed": "Der Bilddienst konnte den Auftrag nicht abschließen.",
    "reason.job_queued": "Der Bilddienst hat den Auftrag eingereiht und nicht rechtzeitig gestartet.",
    "reason.queue_full": "Der Bilddienst ist ausgelastet und hat den Auftrag nicht rechtzeitig angenommen.",
    "reason.rate_limited": "Der Bilddienst hat uns gebremst und den Auftrag nicht rechtzeitig angenommen.",
    "reason.provider_unavailable": "Der Bilddienst ist gerade nicht erreichbar. Versuche es in ein paar Minuten"
    " noch einmal.",
    "reason.malformed_response": "Der Bilddienst hat eine Antwort geschickt, die wir nicht lesen konnten.",
    "reason.out_of_fast_hours": "Das Konto beim Bilddienst hat keine schnellen Stunden mehr. Die Moderatoren"
    " wurden informiert.",
    "reason.private_mode_unavailable": "Der private Modus ist im Tarif des Dienstes nicht enthalten. Die Moderatoren"
    " wurden informiert.",
    "reason.pending_moderation": "Das Konto beim Bilddienst ist angehalten. Die Moderatoren wurden informiert.",
    "reason.subscription_expired": "Das Abo beim Bilddienst ist abgelaufen. Die Moderatoren wurden informiert.",
    "reason.unauthorized": "Der Bilddienst hat die Zugangsdaten des Bots abgelehnt. Die Moderatoren wurden informiert.",
    "reason.no_account": "Gerade ist kein Konto beim Bilddienst verfügbar. Die Moderatoren wurden informiert.",
    "reason.stalled": "Der Auftrag kam nicht mehr voran und wurde beendet.",
    "reason.lost": "Der Bilddienst hat den Auftrag aus den Augen verloren, darum wurde er beendet.",
    "reason.queue_timeout": "Der Auftrag hat zu lange in der Warteschlange gewartet und wurde beendet.",
    "reason.interrupted": "Der Bot wurde beim Senden des Auftrags neu gestartet und weiß nicht, ob der Bilddienst"
    " ihn erhalten hat. Vielleicht wurde das Bild erstellt, aber der Auftrag wurde nicht doppelt gesendet: drücke 🔄,"
    " um es noch einmal zu versuchen.",
    "reason.unconfirmed": "Der Bilddienst hat nicht klar geantwortet, ob er den Auftrag angenommen hat. Vielleicht"
    " wurde das Bild erstellt, aber der Auftrag wurde nicht doppelt gesendet: drücke 🔄, um es noch einmal zu"
    " versuchen.",
    "reason.cancelled_by_owner": "Von der Person abgebrochen, die ihn gestartet hat.",
    "reason.cancelled_by_moderator": "Von einem Moderator abgebrochen.",
    "reason.message_deleted": "Die Nachricht des Auftrags wurde gelöscht, darum wurde der Auftrag beendet.",
    "reason.internal_error": "Bei uns ist etwas schiefgelaufen. Der Auftrag wurde beendet.",
    "reason.image_withheld": "Das Bild wurde erstellt, aber die Sicherheitsprüfung dieses Servers hat es markiert,"
    " darum wird es hier nicht gezeigt. Die Moderatoren wurden informiert.",
}

COMMANDS: dict[str, str] = {
    "imagine": "erstellen",
    "Create four images from a prompt": "Erstellt vier Bilder aus einem Prompt",
    "prompt": "prompt",
    "What to draw; parameters like --ar 16:9 or --seed 7 may follow": "Was gezeichnet werden soll; Parameter wie"
    " --ar 16:9 oder --seed 7 dürfen folgen",
    "image": "bild",
    "An image to start from": "Ein Bild als Ausgangspunkt",
    "aspect": "seitenverhältnis",
    "The shape of the images": "Das Format der Bilder",
    "jobs": "aufträge",
    "Your own jobs, newest first": "Deine eigenen Aufträge, die neuesten zuerst",
    "job": "auftrag",
    "Show a job again, with its buttons": "Zeigt einen Auftrag noch einmal, mit seinen Buttons",
    "The job's id, as shown under its image": "Die ID des Auftrags, wie sie unter seinem Bild steht",
    "settings": "einstellungen",
    "Your defaults: aspect ratio, a parameter suffix, DMs": "Deine Vorgaben: Seitenverhältnis, Parameter-Zusatz, DMs",
    "Aspect ratio for prompts that do not set one (off to clear)": "Seitenverhältnis für Prompts ohne eigenes"
    " (aus zum Löschen)",
    "suffix": "zusatz",
    "Parameters added to every prompt, like --v 6 --stylize 250 (off to clear)": "Parameter, die an jeden Prompt"
    " angehängt werden, etwa --v 6 --stylize 250 (off zum Löschen)",
    "notify": "benachrichtigen",
    "Send me a DM when one of my jobs ends": "Schick mir eine DM, wenn einer meiner Aufträge endet",
    "off": "aus",
    "info": "info",
    "Your usage against the quota, your running and waiting jobs": "Dein Verbrauch im Vergleich zum Kontingent,"
    " deine laufenden und wartenden Aufträge",
}

# Die Verben neben /imagine (Issue 11): /describe, /blend, der Seed, Abbrechen beim Bilddienst.
STRINGS.update(
    {
        "action.blend": "Mischung",
        "verb.not_offered": "Der Bilddienst dieses Bots bietet das nicht an. Es wurde nichts gesendet.",
        "seed.answer": "✉️ Der Seed von Auftrag `{id}` ist **{seed}**. Mit `--seed {seed}` im Prompt startest du"
        " von ihm aus.",
        "seed.failed": "Der Bilddienst hat den Seed dieses Auftrags nicht geliefert: {reason}",
        "seed.not_finished": "Ein Auftrag hat einen Seed, sobald er fertig ist.",
        "cancel.at_provider": "Abgebrochen. Der Bilddienst wurde angewiesen, den Auftrag zu stoppen; er kostet"
        " nichts mehr.",
        "cancel.provider_failed": "Hier abgebrochen. Der Bilddienst war nicht zu erreichen und stellt den Auftrag"
        " vielleicht noch fertig; das Ergebnis wird nicht gezeigt.",
        "cancel.not_at_provider": "Hier abgebrochen. Der Bilddienst kann einen begonnenen Auftrag nicht stoppen"
        " und stellt ihn vielleicht noch fertig; das Ergebnis wird nicht gezeigt.",
        "cancel.not_sent": "Abgebrochen, bevor er den Bilddienst erreicht hat.",
        "describe.head": "**Prompts für dieses Bild**, aus dem /describe von <@{user}>. Drücke eine Zahl, um ihn"
        " zu zeichnen.",
        "describe.failed": "Das Bild konnte nicht beschrieben werden: {reason}",
        "describe.none": "Der Bilddienst hat für dieses Bild keine Prompts geliefert.",
        "describe.gone": "Diese Prompts kennt der Bot nicht mehr. Starte /describe noch einmal.",
        "describe.need_image": "Gib ein Bild zum Beschreiben an: als Upload oder als Link.",
        "blend.count": "Eine Mischung braucht zwei bis fünf Bilder.",
    }
)
COMMANDS.update(
    {
        "describe": "beschreiben",
        "Four prompts that would draw an image like yours": "Vier Prompts, die ein Bild wie deines zeichnen würden",
        "An image to describe": "Ein Bild zum Beschreiben",
        "link": "link",
        "Or a link to the image": "Oder ein Link zum Bild",
        "blend": "mischen",
        "Blend two to five images into four new ones": "Mischt zwei bis fünf Bilder zu vier neuen",
        "image1": "bild1",
        "image2": "bild2",
        "image3": "bild3",
        "image4": "bild4",
        "image5": "bild5",
        "An image to blend": "Ein Bild zum Mischen",
        "dimensions": "format",
        "The shape of the result": "Das Format des Ergebnisses",
        "Portrait": "Hochformat",
        "Square": "Quadrat",
        "Landscape": "Querformat",
    }
)
STRINGS.update(
    {
        "action.custom_zoom": "Eigener Zoom",
        "settings.remix": "Remix (Prompt bei Vary, Schwenk und 🔄 bearbeiten): {state}",
        "remix.title": "Remix: Prompt bearbeiten",
        "remix.prompt": "Prompt",
        "zoom.title": "Eigener Zoom",
        "zoom.value": "Herauszoomen um (1.0 bis 2.0)",
        "zoom.invalid": "Der Zoom muss eine Zahl von 1.0 bis 2.0 sein, etwa 1.5.",
    }
)
COMMANDS.update(
    {
        "remix": "remix",
        "Edit the prompt when you press Vary, Pan or 🔄": "Den Prompt bearbeiten, wenn du Vary, Schwenk oder 🔄"
        " drückst",
    }
)
STRINGS.update(
    {
        "action.animate_high": "Animieren (viel Bewegung)",
        "action.animate_low": "Animieren (wenig Bewegung)",
        "action.extend_high": "Verlängern (viel Bewegung)",
        "action.extend_low": "Verlängern (wenig Bewegung)",
        "video.too_large": "Das Video ist größer, als dieser Kanal annimmt: {link}",
        "video.too_large_local": "Das Video ist größer, als dieser Kanal annimmt, und wird nicht angehängt.",
    }
)
