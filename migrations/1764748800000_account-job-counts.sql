-- Up Migration

-- Each account's queued and running jobs, counted as they change, so the in-flight cap is checked
-- without counting the account's jobs on every submit. A submit used to take the account's advisory
-- lock, count its active jobs and insert, in separate statements (the count had to follow the lock
-- with a snapshot of its own): six round trips, and every submit of the account waited while another
-- counted. Now the submit's one statement locks this row (ON CONFLICT DO UPDATE reads its latest
-- version, so two submits racing for the last slot cannot both pass) and the trigger below counts its
-- job at the commit. A trigger keeps the count whatever path changes a job's status.
CREATE TABLE account_job_counts (
  user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  active integer NOT NULL DEFAULT 0
);

INSERT INTO account_job_counts (user_id, active)
  SELECT user_id, count(*) FROM jobs WHERE status IN ('queued', 'running') GROUP BY user_id;

CREATE FUNCTION count_active_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  was_active boolean := false;
  is_active boolean := false;
BEGIN
  IF TG_OP <> 'INSERT' THEN was_active := OLD.status IN ('queued', 'running'); END IF;
  IF TG_OP <> 'DELETE' THEN is_active := NEW.status IN ('queued', 'running'); END IF;
  IF is_active AND NOT was_active THEN
    INSERT INTO account_job_counts (user_id, active) VALUES (NEW.user_id, 1)
      ON CONFLICT (user_id) DO UPDATE SET active = account_job_counts.active + 1;
  ELSIF was_active AND NOT is_active THEN
    -- No row when the account itself is being deleted (its count went by cascade).
    UPDATE account_job_counts SET active = active - 1 WHERE user_id = OLD.user_id;
  END IF;
  RETURN NULL;
END
$$;

-- Deferred to the commit, so a transaction locks the count last, after every other row it locks: the
-- worker ending a fit changes the job, then its model (ready or failed); a predict submitted on that
-- model while it fits holds the model (FOR SHARE) when it takes the count. Counted at once, the two
-- would wait for each other. A submit's own admission (job.repository.ts) takes the count before its
-- inserts, but after the account and model rows, the only rows it waits for.
CREATE CONSTRAINT TRIGGER jobs_count_active AFTER INSERT OR DELETE OR UPDATE OF status ON jobs
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION count_active_jobs();

-- Down Migration

DROP TRIGGER jobs_count_active ON jobs;
DROP FUNCTION count_active_jobs();
DROP TABLE account_job_counts;
