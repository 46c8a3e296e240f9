-- migrate:up

-- An Idempotency-Key belongs to the client that sent it: with API keys, two
-- clients that happen to use the same key value get their own answers instead
-- of one replaying (or being refused because of) the other's. `client` is a
-- fingerprint of the API key the request proved; '' when the service runs
-- without API keys, where every caller shares one scope as before.
ALTER TABLE idempotency_keys ADD COLUMN client text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (client, method, path, key);

-- migrate:down

-- Where clients shared a key value, the first stored answer is kept.
DELETE FROM idempotency_keys a USING idempotency_keys b
WHERE a.method = b.method AND a.path = b.path AND a.key = b.key
  AND (a.created_at, a.client) > (b.created_at, b.client);
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys DROP COLUMN client;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (method, path, key);
