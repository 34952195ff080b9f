"""Loopback simulators of the Midjourney API providers the bot has adapters for.

Each one is an aiohttp application that speaks its provider's documented contract (see
``shared/reference/providers.md``) on 127.0.0.1, serves its own result images, posts webhooks and
takes fault knobs, so the adapters, the engine and the whole bot can be tested offline. Run one with
``python -m providersim <thenextleg|useapi|imaginepro|apiframe> --port P``; use one from a test with
``async with simulator("useapi") as sim: ...`` (a free port is picked). ``GET /_sim/submits`` on any of
them counts the jobs created per caller reference, so a test can prove none was sent twice.
"""

from __future__ import annotations

from typing import Any

from providersim._core import MJ_FAILURES, ErrorSpec, Faults, Forced, SimJob, SimServer
from providersim.a1111 import A1111Sim
from providersim.apiframe import ApiFrameSim
from providersim.comfyui import ComfyUISim
from providersim.imaginepro import ImagineProSim
from providersim.openai_images import OpenAIImagesSim
from providersim.thenextleg import TheNextLegSim
from providersim.useapi import UseApiSim

__all__ = [
    "MJ_FAILURES",
    "SIMULATORS",
    "A1111Sim",
    "ApiFrameSim",
    "ComfyUISim",
    "ErrorSpec",
    "Faults",
    "Forced",
    "ImagineProSim",
    "OpenAIImagesSim",
    "SimJob",
    "SimServer",
    "TheNextLegSim",
    "UseApiSim",
    "simulator",
]

SIMULATORS: dict[str, type[SimServer]] = {
    "thenextleg": TheNextLegSim,
    "useapi": UseApiSim,
    "imaginepro": ImagineProSim,
    "apiframe": ApiFrameSim,
    "comfyui": ComfyUISim,
    "a1111": A1111Sim,
    "openai": OpenAIImagesSim,
}


def simulator(name: str, **kwargs: Any) -> SimServer:
    """A simulator of the named provider, not yet listening; ``await sim.start()`` or ``async with``."""
    return SIMULATORS[name](**kwargs)
