# A stand-in for python:3.11-slim built from Debian's archive alone (deploy/local-base/build.sh): Debian
# bookworm's python3 is 3.11. Debian marks its system Python as externally managed (PEP 668), so `python`
# and `pip` on PATH are a virtual environment's, as in the official image where they are the image's own.
ARG BOOKWORM=imagine-local/bookworm
FROM ${BOOKWORM}
RUN python3 -m venv /opt/python && /opt/python/bin/pip install --no-cache-dir --upgrade pip
ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
