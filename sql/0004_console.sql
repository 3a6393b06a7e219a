-- +goose Up
-- The console: where a user signs in (local password, the municipal
-- directory, or either), the services assigned to operators, and the audit
-- log of every change made through the API.

ALTER TABLE users
    ADD COLUMN source ENUM('local','directory','both') NOT NULL DEFAULT 'local',
    ADD COLUMN directory_dn VARCHAR(500) NOT NULL DEFAULT '';

-- A slot whose places or opening the back office changed by hand keeps
-- them when the agenda's slots are regenerated.
ALTER TABLE slots ADD COLUMN manual BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE user_services (
    user_id     BIGINT NOT NULL,
    service_id  BIGINT NOT NULL,
    PRIMARY KEY (user_id, service_id),
    CONSTRAINT user_services_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT user_services_service FOREIGN KEY (service_id) REFERENCES services (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE audit_log (
    id          BIGINT PRIMARY KEY AUTO_INCREMENT,
    owner_id    BIGINT NOT NULL,
    at          DATETIME(6) NOT NULL,
    actor       VARCHAR(120) NOT NULL,
    action      VARCHAR(40) NOT NULL,
    entity      VARCHAR(40) NOT NULL,
    entity_id   BIGINT NOT NULL DEFAULT 0,
    before_json JSON NULL,
    after_json  JSON NULL,
    KEY audit_owner_time (owner_id, at),
    KEY audit_entity (owner_id, entity, entity_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
ALTER TABLE slots DROP COLUMN manual;
DROP TABLE audit_log;
DROP TABLE user_services;
ALTER TABLE users DROP COLUMN source, DROP COLUMN directory_dn;
