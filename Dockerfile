# The needsbot image: the bot, the scheduler and the command line.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 needsbot
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY nlu ./nlu
COPY dialogs ./dialogs
COPY storage ./storage
COPY casework ./casework
RUN pip install . && mkdir -p /app/var && chown needsbot /app/var

USER needsbot
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 CMD ["needsbot", "health"]
CMD ["needsbot", "run"]
