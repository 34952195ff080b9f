"""The built-in banned phrases every guild starts with; moderators can switch them off or add their own.

Modelled on the categories image services refuse anyway (explicit sexual content, sexualised minors,
graphic violence and gore), so a prompt that would be refused upstream is refused here first, for
free, with a clear reason. Slurs are left to each server's moderators: what a community needs to ban
varies too much for one list. Phrase syntax is the matcher's: ``*`` at the end matches longer words.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PHRASES"]

DEFAULT_PHRASES: tuple[str, ...] = (
    # explicit sexual content
    "nsfw",
    "nude*",
    "nudity",
    "naked",
    "porn*",
    "hentai",
    "xxx",
    "erotic*",
    "genital*",
    "penis*",
    "vagina*",
    "nipple*",
    "topless",
    "orgasm*",
    "fetish*",
    "bdsm",
    "sex act*",
    "sexual intercourse",
    "masturbat*",
    "onlyfans",
    # sexualised minors
    "loli",
    "lolicon",
    "shota*",
    "child porn*",
    "underage sex*",
    # graphic violence and gore
    "gore",
    "gory",
    "dismember*",
    "decapitat*",
    "behead*",
    "disembowel*",
    "mutilat*",
    "bloodbath",
    "torture porn",
    "necrophil*",
    "bestiality",
    "incest*",
    "rape",
    "raped",
    "raping",
    "rapist*",
)
