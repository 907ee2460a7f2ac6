-- Nothing on SQLite: one instance, whose cache of the placement settings is dropped at every
-- change before the change's transaction ends (PostgreSQL's function `roster_placing` is for
-- writes of instances that hear of another's change late).
SELECT 1;
