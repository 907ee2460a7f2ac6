-- Mapping rules: IdP group → user group, and SCIM filter over the user → user group. Rules are
-- ordered per tenant (position) and each can be switched off. A rule's memberships are the
-- user_group_members rows with reason 'rule' and its id; deleting the rule removes them.
CREATE TABLE mapping_rules (
    tenant_id     TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    position      BIGINT  NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('idp_group', 'attribute')),
    idp_group_id  TEXT,
    filter        TEXT,
    user_group_id TEXT    NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_group_id) REFERENCES user_groups (tenant_id, id) ON DELETE CASCADE,
    CHECK ((kind = 'idp_group') = (idp_group_id IS NOT NULL)),
    CHECK ((kind = 'attribute') = (filter IS NOT NULL))
);
CREATE INDEX mapping_rules_position ON mapping_rules (tenant_id, position);
CREATE INDEX user_group_members_rule ON user_group_members (tenant_id, reason, rule_id);

-- Whole-tenant evaluations after a rule change, run in the background; the dashboard shows the
-- latest one's progress.
CREATE TABLE mapping_runs (
    tenant_id   TEXT    NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    total       BIGINT  NOT NULL,
    done        BIGINT  NOT NULL DEFAULT 0,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    error       TEXT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX mapping_runs_started ON mapping_runs (tenant_id, started_at);
