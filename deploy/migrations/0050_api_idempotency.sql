-- First answers to actions sent with an Idempotency-Key, per user (subject, key).
-- A retry gets the stored answer instead of running the action again. `status` is NULL while
-- the first request is still running. The body is stored as bytes: it is the exact answer.
CREATE TABLE IF NOT EXISTS wardship_idempotency (
    subject      text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    status       integer,
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject, key)
);
