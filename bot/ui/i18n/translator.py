"""Command names, descriptions and choice names in the member's language, through discord.py's translator.

Installed with ``bot.tree.set_translator(CatalogueTranslator())`` in the bot's ``setup_hook``. Every
command string in ``cogs/`` reaches :meth:`CatalogueTranslator.translate` as a ``locale_str`` holding
its English text; a language's ``COMMANDS`` maps that text to its own. None leaves Discord's English.
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.ui.i18n import COMMANDS, DEFAULT, language

__all__ = ["CatalogueTranslator"]


class CatalogueTranslator(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        code = language(locale)
        if code == DEFAULT:
            return None
        # A language module answers for its bare locale and every regional one ("de" for de; "ja" for ja).
        if locale.value.split("-")[0].lower() != code:
            return None
        return COMMANDS[code].get(string.message)
