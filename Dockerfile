# One image for every Loopmeter service; docker-compose.yml picks the subcommand:
#   loopmeter ingest run | carbon run | gateway run | sim run --scenario ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Chromium prints PDF reports; the CJK fonts make their Chinese text render.
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/loopmeter loopmeter \
    && mkdir -p /var/lib/loopmeter/ingest /var/lib/loopmeter/carbon /var/lib/loopmeter/gateway \
    && chown -R loopmeter:loopmeter /var/lib/loopmeter

# Named volumes mounted on these folders start with the folder's owner: the service user.
USER loopmeter
WORKDIR /var/lib/loopmeter
ENTRYPOINT ["loopmeter"]
CMD ["--help"]
