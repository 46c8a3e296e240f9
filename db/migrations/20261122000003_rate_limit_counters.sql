-- migrate:up

-- Requests per client and fixed time window, shared by every API process.
-- Rows of past windows are deleted as new windows start.
CREATE UNLOGGED TABLE rate_limit_counters (
  client       text NOT NULL,
  window_start timestamptz NOT NULL,
  requests     integer NOT NULL DEFAULT 1,
  PRIMARY KEY (client, window_start)
);

CREATE INDEX rate_limit_counters_window_start_idx ON rate_limit_counters (window_start);

-- migrate:down

DROP TABLE rate_limit_counters;
