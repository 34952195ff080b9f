# A stand-in for prom/prometheus built from Debian's archive alone (deploy/local-base/build.sh): the same
# configuration path (/etc/prometheus/prometheus.yml, which docker-compose.yml mounts) and port 9090.
ARG BOOKWORM=imagine-local/bookworm
FROM ${BOOKWORM}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /prometheus && chown nobody:nogroup /prometheus
USER nobody
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
