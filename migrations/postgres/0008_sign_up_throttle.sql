-- Sign-ups per client address, for throttling self-service sign-up.
CREATE TABLE sign_ups (
    id        BIGSERIAL PRIMARY KEY,
    client_ip TEXT    NOT NULL,
    at        BIGINT  NOT NULL
);
CREATE INDEX sign_ups_ip ON sign_ups (client_ip, at);
