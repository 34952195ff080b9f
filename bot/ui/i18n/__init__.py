"""The bot's words in each language: ``t(locale, key, **params)``, English when a language lacks a key.

A language is one module of strings in this package (``STRINGS`` for the bot's own text, ``COMMANDS``
for command names, descriptions and choice names by their English text) plus one line in
:data:`LANGUAGES`. ``tests/unit/test_i18n.py`` fails when a language misses a key of English or a
string's placeholders differ from English's.

Replies to a member are drawn in the member's locale (``interaction.locale``), public job messages in
the server's (``interaction.guild_locale``, stored on the job as ``Job.locale``). The locale is a plain
string ("de", "ja", "en-US", or a ``discord.Locale``, whose value is that string).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from bot.ui.i18n import de, en, ja

__all__ = ["COMMANDS", "DEFAULT", "LANGUAGES", "language", "t"]

DEFAULT: Final = "en"
# language code -> its module. Adding a language: a module beside these, and one line here.
_MODULES: Final = {
    "en": en,
    "de": de,
    "ja": ja,
}
LANGUAGES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {code: module.STRINGS for code, module in _MODULES.items()}
)
COMMANDS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {code: module.COMMANDS for code, module in _MODULES.items()}
)


def language(locale: object) -> str:
    """The language a locale is shown in: "de" for "de", "ja" for "ja", English for none or any other."""
    if locale is None:
        return DEFAULT
    code = str(getattr(locale, "value", locale)).split("-")[0].lower()
    return code if code in LANGUAGES else DEFAULT


def t(locale: object, key: str, /, **params: object) -> str:
    """The text for ``key`` in ``locale``'s language (English if it has none), with ``params`` filled in."""
    strings = LANGUAGES[language(locale)]
    text = strings.get(key)
    if text is None:
        text = LANGUAGES[DEFAULT][key]
    return text.format(**params) if params else text
