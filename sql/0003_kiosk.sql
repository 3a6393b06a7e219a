-- +goose Up
-- A totem's printer: the last state it or its network printer reported
-- (ok, paper_low, paper_out, cover_open, offline, error), shown to the admin.
ALTER TABLE devices ADD COLUMN printer VARCHAR(20) NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE devices DROP COLUMN printer;
