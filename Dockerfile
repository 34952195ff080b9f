# imagine-bot: a slim image that runs the bot as an unprivileged user with its data on a volume.
# The official image unless told otherwise: BASE_IMAGE lets a machine without Docker Hub build on a local
# image that provides the same (python 3.11 and pip on PATH), as deploy/smoke.sh does.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    HTTP_PORT=8080

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY localdiscord ./localdiscord
COPY providersim ./providersim
# The [safety] extra: every output image is checked offline before it is posted (/mod safety).
RUN pip install ".[safety]" && useradd --system --uid 10001 --home-dir /app imagine \
    && mkdir -p /data && chown imagine /data

USER imagine
VOLUME ["/data"]
# The web server: /metrics, /healthz, /readyz, and the provider callbacks when WEBHOOK_ENABLED=true.
EXPOSE 8080
# Alive = /healthz answers; python's standard library asks it, so the slim image needs no curl.
# /readyz is for a load balancer or an orchestrator's readiness probe, not for restarting the container.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "bot.core.health"]
ENTRYPOINT ["imagine-bot"]
CMD ["run"]
