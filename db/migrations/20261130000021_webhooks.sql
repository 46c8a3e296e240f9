-- migrate:up

-- Webhooks: subscriptions that receive the events feed (db/migrations/20261130000020_events.sql)
-- over HTTP, signed per the Standard Webhooks specification, at least once and, per
-- subscription, in position order (src/webhooks/deliverer.ts).
--
-- A subscription is its own cursor over the feed: `position` is the last event position
-- delivered (or passed over by its type filter). Delivery workers in any number of
-- processes claim due subscriptions with FOR UPDATE SKIP LOCKED and hold a lease
-- (lease_until, lease_token) while they deliver outside any transaction; an outcome
-- is written only while the token is still theirs. A worker that dies leaves its lease
-- to expire, and the next one delivers the same event again (same webhook-id).

CREATE TABLE webhooks (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  url                   text NOT NULL,
  -- Empty: every type.
  event_types           text[] NOT NULL DEFAULT '{}',
  description           text,
  enabled               boolean NOT NULL DEFAULT true,
  -- whsec_ and the base64 of the random key (Standard Webhooks). Needed in clear to sign.
  secret                text NOT NULL,
  -- The secret before the last rotation, still signing beside the new one until previous_secret_until.
  previous_secret       text,
  previous_secret_until timestamptz,
  -- The last event position delivered or passed over.
  position              bigint NOT NULL,
  next_attempt_at       timestamptz NOT NULL DEFAULT now(),
  -- Failed attempts in a row, since failing_since, the last one's error.
  failures              integer NOT NULL DEFAULT 0,
  failing_since         timestamptz,
  last_error            text,
  -- Why delivery stopped, when the service disabled the subscription.
  disabled_reason       text,
  -- The worker delivering now: until when, its token, and who it is (host:pid).
  lease_until           timestamptz,
  lease_token           uuid,
  lease_owner           text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhooks_url_format CHECK (url ~ '^https?://\S+$' AND char_length(url) <= 2000),
  CONSTRAINT webhooks_event_types_format CHECK (
    cardinality(event_types) <= 100 AND array_position(event_types, NULL) IS NULL
    AND array_to_string(event_types, ' ') ~ '^([a-z_]+\.[a-z_]+( |$))*$'),
  CONSTRAINT webhooks_description_length CHECK (char_length(description) <= 500),
  CONSTRAINT webhooks_secret_format CHECK (secret ~ '^whsec_[A-Za-z0-9+/]+={0,2}$'),
  CONSTRAINT webhooks_previous_secret_format CHECK (
    (previous_secret IS NULL) = (previous_secret_until IS NULL)
    AND (previous_secret IS NULL OR previous_secret ~ '^whsec_[A-Za-z0-9+/]+={0,2}$')),
  CONSTRAINT webhooks_position_nonnegative CHECK (position >= 0),
  CONSTRAINT webhooks_failures_nonnegative CHECK (failures >= 0),
  CONSTRAINT webhooks_lease CHECK ((lease_until IS NULL) = (lease_token IS NULL))
);
-- What the workers look at: enabled subscriptions by when they are due.
CREATE INDEX webhooks_due_idx ON webhooks (next_attempt_at) WHERE enabled;

-- Every attempt, kept with the events' retention (webhook_deliveries_prune).
CREATE TABLE webhook_deliveries (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_id     bigint NOT NULL REFERENCES webhooks ON DELETE CASCADE,
  -- No foreign key: events are pruned, their attempts stay a while.
  event_id       bigint NOT NULL,
  event_position bigint NOT NULL,
  -- 1 for the first attempt of this event after the last success (or replay), then 2, 3...
  attempt        integer NOT NULL,
  -- The receiver's status; NULL when none came (timeout, refused, address not allowed...).
  status_code    integer,
  -- A short reason, never a secret or a body.
  error          text,
  latency_ms     integer NOT NULL,
  ok             boolean NOT NULL,
  attempted_at   timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhook_deliveries_attempt_positive CHECK (attempt >= 1),
  CONSTRAINT webhook_deliveries_status_code_range CHECK (status_code BETWEEN 100 AND 599),
  CONSTRAINT webhook_deliveries_error_length CHECK (char_length(error) <= 200),
  CONSTRAINT webhook_deliveries_latency_nonnegative CHECK (latency_ms >= 0)
);
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_attempted_idx ON webhook_deliveries (attempted_at);

-- Deletes attempts older than `keep`, oldest first, at most `batch` of them. Returns how many.
CREATE FUNCTION webhook_deliveries_prune(keep interval, batch integer DEFAULT 5000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  pruned integer;
BEGIN
  DELETE FROM webhook_deliveries
  WHERE id IN (SELECT id FROM webhook_deliveries WHERE attempted_at < now() - keep ORDER BY attempted_at LIMIT batch);
  GET DIAGNOSTICS pruned = ROW_COUNT;
  RETURN pruned;
END;
$$;

-- migrate:down

DROP FUNCTION webhook_deliveries_prune(interval, integer);
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
