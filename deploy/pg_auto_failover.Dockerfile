# PostgreSQL 15 with pg_auto_failover 2.0 (from the PostgreSQL apt repository the
# official image already uses), for deploy/compose.cluster.yml: the monitor and
# the data nodes run `pg_autoctl` as the postgres user.
FROM postgres:15-bookworm
RUN apt-get update \
  && apt-get install -y --no-install-recommends postgresql-15-auto-failover pg-auto-failover-cli \
  && rm -rf /var/lib/apt/lists/*
USER postgres
ENV PGDATA=/var/lib/postgresql/pgaf
WORKDIR /var/lib/postgresql
