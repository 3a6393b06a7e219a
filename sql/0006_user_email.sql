-- +goose Up
-- A staff account's e-mail address: the administrators' receive the
-- appliance's alerts (backups no longer verified) besides mail.to.
ALTER TABLE users ADD COLUMN email VARCHAR(254) NULL;

-- +goose Down
ALTER TABLE users DROP COLUMN email;
