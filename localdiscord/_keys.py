"""Typed keys for values the API middleware stores on each request for the handlers."""

from __future__ import annotations

from aiohttp import web

from ._messages import Upload
from ._state import Interaction

# The parsed JSON body, or multipart payload_json (None when there was no body).
JSON_BODY = web.RequestKey("localdiscord_json", object)
# The files[n] parts of a multipart body.
UPLOADS: web.RequestKey[list[Upload]] = web.RequestKey("localdiscord_uploads", list)
# The interaction a token route resolved to, so errors can be recorded against it.
INTERACTION: web.RequestKey[Interaction] = web.RequestKey("localdiscord_interaction", Interaction)
