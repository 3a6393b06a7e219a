-- +goose Up
-- Remote maintenance windows: only while one is open does the agent reach
-- the vendor's bastion (or inbound SSH open from one address).
CREATE TABLE maint_windows (
    id          BIGINT PRIMARY KEY AUTO_INCREMENT,
    owner_id    BIGINT NOT NULL,
    opened_by   VARCHAR(120) NOT NULL,
    reason      VARCHAR(500) NOT NULL,
    starts_at   DATETIME(6) NOT NULL,
    ends_at     DATETIME(6) NOT NULL,
    closed_by   VARCHAR(120) NOT NULL DEFAULT '',
    KEY maint_windows_time (ends_at),
    CONSTRAINT maint_windows_owner FOREIGN KEY (owner_id) REFERENCES owners (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE maint_windows;
