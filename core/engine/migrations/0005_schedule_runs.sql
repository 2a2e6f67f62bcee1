-- Runs of schedules. Each fire time is claimed by the one instance whose row goes in
-- (the unique key is the schedule and its fire time on the Copenhagen wall clock, or
-- manual-<uuid> for a run by hand); a running job's heartbeat keeps its lease. Every
-- run is kept with its duration and outcome.
CREATE TABLE schedule_runs (
    id            {{SERIAL_PK}},
    schedule_id   TEXT NOT NULL,
    job           TEXT NOT NULL,
    fire_key      TEXT NOT NULL,
    fire_at       BIGINT,
    period        TEXT,
    dry_run       INTEGER NOT NULL DEFAULT 0,
    instance      TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL,
    finished_at   BIGINT,
    outcome       TEXT NOT NULL,
    detail        TEXT
);
CREATE UNIQUE INDEX schedule_runs_fire ON schedule_runs (schedule_id, fire_key);
CREATE INDEX schedule_runs_started ON schedule_runs (schedule_id, started_at);
