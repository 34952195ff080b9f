# A stand-in for the official postgres image built from Debian's archive alone (deploy/local-base/build.sh):
# Debian bookworm's PostgreSQL 15, with an entry point that honours the same POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB and data directory, so docker-compose.yml's postgres service runs on it unchanged.
ARG BOOKWORM=imagine-local/bookworm
FROM ${BOOKWORM}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* /var/lib/postgresql/15 /etc/postgresql/15/main
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
