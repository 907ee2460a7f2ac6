//! Mapping rules: suggestions for conditions, previews, whole-tenant runs.

use serde::{Deserialize, Serialize};

/// An attribute the organization's users have, for writing rule conditions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeSuggestion {
    /// The name a condition can use (`department`, `country`, `title`, …).
    pub name: String,
    /// In words ("Department").
    pub label: String,
    /// How many of the users looked at have it.
    pub users: i64,
    /// Its most common values, most common first.
    pub values: Vec<String>,
}

/// How many users a rule change would add to and take out of one user group, with a few names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulePreview {
    /// The user group.
    pub user_group_id: String,
    /// Users the rules would newly place there.
    pub gain: usize,
    /// Users the rules would no longer place there.
    pub lose: usize,
    /// Up to five userNames that would be placed.
    pub gain_sample: Vec<String>,
    /// Up to five userNames that would be taken out.
    pub lose_sample: Vec<String>,
}

/// A whole-tenant evaluation of the mapping rules (after a rule change), as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingRun {
    /// Its id.
    pub id: String,
    /// What started it.
    pub reason: String,
    /// Users to evaluate.
    pub total: i64,
    /// Users evaluated so far.
    pub done: i64,
    /// How many of them changed user groups.
    #[serde(default)]
    pub changed: i64,
    /// Epoch ms.
    pub started_at_ms: i64,
    /// Epoch ms, once finished.
    pub finished_at_ms: Option<i64>,
    /// Why it stopped, if it failed.
    pub error: Option<String>,
    /// Its background job, while it is not finished: waiting, running, or waiting to retry.
    #[serde(default)]
    pub job: Option<RunJob>,
}

/// Where the background job of an unfinished [`MappingRun`] is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunJob {
    /// `queued` (waiting for an instance; after a failure, for its next try) or `running`.
    pub state: String,
    /// Tries so far.
    pub attempts: i64,
    /// The last try's failure, if any (the job is retried).
    pub last_error: Option<String>,
    /// When it will be tried again (epoch ms), after a failure.
    pub next_attempt_ms: Option<i64>,
}
