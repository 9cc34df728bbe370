# One image for every Tem process in docker-compose.yml: hub (gunicorn), ingestors,
# the broker (Debian's Mosquitto 2.0, the version DESIGN.md's broker facts were measured
# on), one-shot jobs and the simulated stations.
FROM python:3.11-slim-bookworm

RUN apt-get update \
 && apt-get install -y --no-install-recommends mosquitto openssl libzbar0 postgresql-client \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /srv/tem
COPY pyproject.toml README.md babel.cfg ./
COPY tem ./tem
COPY station ./station
COPY hub ./hub
RUN pip install --no-cache-dir ".[hub,station]" \
 && cp -r hub/static /srv/tem/hub-static
COPY deploy ./deploy

ENV TEM_INSTANCE=/var/lib/tem/instance \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/tem"]
CMD ["tem", "--help"]
