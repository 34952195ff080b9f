# imagine-bot: a slim image that runs the bot as an unprivileged user with its data on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data

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
# The webhook receiver's port, used only when WEBHOOK_ENABLED=true.
EXPOSE 8080
ENTRYPOINT ["imagine-bot"]
CMD ["run"]
