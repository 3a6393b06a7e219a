-- +goose Up
-- Waiting-room screens and totems: what each device reports about itself,
-- its settings, pairing by a short code, and playlists (the "palinsesto").

ALTER TABLE devices
    ADD COLUMN settings JSON NULL,
    ADD COLUMN screen VARCHAR(20) NOT NULL DEFAULT '',
    ADD COLUMN showing VARCHAR(20) NOT NULL DEFAULT '',
    ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;

-- A page opened on a device without a credential asks for a code; an admin
-- claims the code for a new device; the page, polling with its secret, gets
-- the device's token once (token is cleared when handed out).
CREATE TABLE pairings (
    id           BIGINT PRIMARY KEY AUTO_INCREMENT,
    code         CHAR(6) NOT NULL,
    secret_hash  BINARY(32) NOT NULL,
    kind         ENUM('kiosk','display') NOT NULL,
    screen       VARCHAR(20) NOT NULL DEFAULT '',
    version      VARCHAR(60) NOT NULL DEFAULT '',
    created_at   DATETIME(6) NOT NULL,
    expires_at   DATETIME(6) NOT NULL,
    device_id    BIGINT NULL,
    token        VARCHAR(64) NULL,
    UNIQUE KEY pairings_secret (secret_hash),
    KEY pairings_code (code, expires_at),
    CONSTRAINT pairings_device FOREIGN KEY (device_id) REFERENCES devices (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A playlist is edited as a whole: its items are a JSON array validated by
-- the appliance (kind, url, text, duration, days, time window).
CREATE TABLE playlists (
    id          BIGINT PRIMARY KEY AUTO_INCREMENT,
    owner_id    BIGINT NOT NULL,
    name        VARCHAR(200) NOT NULL,
    items       JSON NOT NULL,
    updated_at  DATETIME(6) NOT NULL,
    CONSTRAINT playlists_owner FOREIGN KEY (owner_id) REFERENCES owners (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Uploaded images and videos; the bytes live in the media directory under
-- their SHA-256, the row says whose they are and what they are.
CREATE TABLE media (
    id            BIGINT PRIMARY KEY AUTO_INCREMENT,
    owner_id      BIGINT NOT NULL,
    name          VARCHAR(200) NOT NULL,
    content_type  VARCHAR(60) NOT NULL,
    sha256        CHAR(64) NOT NULL,
    size          BIGINT NOT NULL,
    created_at    DATETIME(6) NOT NULL,
    KEY media_sha (sha256),
    CONSTRAINT media_owner FOREIGN KEY (owner_id) REFERENCES owners (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The screens list the latest calls of their rooms.
ALTER TABLE calls ADD KEY calls_time (called_at);

-- +goose Down
ALTER TABLE calls DROP KEY calls_time;
DROP TABLE media;
DROP TABLE playlists;
DROP TABLE pairings;
ALTER TABLE devices DROP COLUMN settings, DROP COLUMN screen, DROP COLUMN showing, DROP COLUMN seq;
