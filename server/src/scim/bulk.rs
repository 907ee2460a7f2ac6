//! /Bulk (RFC 7644 section 3.7): many operations in one request, run in order, each on its own
//! (one failing does not undo the others, as the RFC says), `bulkId` references resolved to
//! the ids of resources created earlier in the same request, stopped after `failOnErrors`
//! errors.
//!
//! Each operation commits on its own, so a Bulk request that runs out of time must not be cut
//! off by the request timeout (whose answer would hide what was applied). It starts no
//! operation later than [`MARGIN`] before the request's [`Deadline`], lets the one in progress
//! finish, and answers the BulkResponse of what ran, with every operation not applied marked
//! `503` and the reason. (Should one operation alone outlast the margin, the request timeout
//! answers, and says that the operations before it were applied.)

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use roster_shared::scim::messages::{BulkOperation, BulkOperationResult, BulkRequest, BulkResponse, BULK_RESPONSE_URN};
use roster_shared::scim::ScimError;
use roster_shared::service::provisioning::{Resource, Scim};
use roster_shared::service::Services;
use serde_json::Value;

use super::auth::{Deadline, ScimCaller};
use super::resources::read_json;
use super::response::{json, noted, ActivityNote, ScimErrorResponse};

/// The most operations one Bulk request may carry (advertised).
pub const MAX_OPERATIONS: usize = 1000;

/// How long before the request's deadline Bulk stops, to answer in time.
const MARGIN: std::time::Duration = std::time::Duration::from_millis(1500);

/// Replaces every `"bulkId:x"` string in a JSON value by the id created for `x`.
fn resolve_refs(v: &mut Value, ids: &HashMap<String, String>) -> Result<(), ScimError> {
    match v {
        Value::String(s) => {
            if let Some(key) = s.strip_prefix("bulkId:") {
                let id = ids.get(key).ok_or_else(|| {
                    ScimError::bad_request(
                        roster_shared::scim::ScimType::InvalidValue,
                        format!("bulkId '{key}' does not name a resource created earlier in this request"),
                    )
                })?;
                *s = id.clone();
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|i| resolve_refs(i, ids)),
        Value::Object(map) => map.values_mut().try_for_each(|i| resolve_refs(i, ids)),
        _ => Ok(()),
    }
}

enum Outcome {
    Written(u16, Resource, &'static str),
    Deleted,
}

async fn run_one(scim: &Scim<'_>, op: &BulkOperation, ids: &HashMap<String, String>) -> Result<Outcome, ScimError> {
    let mut path = op.path.trim().to_string();
    if let Some(rest) = path.strip_prefix('/') {
        path = rest.to_string();
    }
    let mut segments: Vec<String> = path.split('/').map(str::to_string).collect();
    if let Some(last) = segments.get_mut(1) {
        let mut v = Value::String(last.clone());
        resolve_refs(&mut v, ids)?;
        *last = v.as_str().unwrap_or_default().to_string();
    }
    let mut data = op.data.clone().unwrap_or(Value::Null);
    resolve_refs(&mut data, ids)?;
    let version = op.version.as_deref();
    let method = op.method.to_ascii_uppercase();
    let bad_path =
        || ScimError::invalid_path(format!("'{}' is not /Users, /Groups or one of their resources", op.path));
    match (method.as_str(), segments.first().map(String::as_str), segments.get(1)) {
        ("POST", Some("Users"), None) => Ok(Outcome::Written(201, scim.create_user(&data).await?, "Users")),
        ("POST", Some("Groups"), None) => Ok(Outcome::Written(201, scim.create_group(&data).await?, "Groups")),
        ("PUT", Some("Users"), Some(id)) => {
            Ok(Outcome::Written(200, scim.replace_user(id, &data, version).await?, "Users"))
        }
        ("PUT", Some("Groups"), Some(id)) => {
            Ok(Outcome::Written(200, scim.replace_group(id, &data, version).await?, "Groups"))
        }
        ("PATCH", Some("Users"), Some(id)) => {
            Ok(Outcome::Written(200, scim.patch_user(id, &data, version).await?.0, "Users"))
        }
        ("PATCH", Some("Groups"), Some(id)) => {
            Ok(Outcome::Written(200, scim.patch_group(id, &data, version, false).await?.0, "Groups"))
        }
        ("DELETE", Some("Users"), Some(id)) => scim.delete_user(id, version).await.map(|_held| Outcome::Deleted),
        ("DELETE", Some("Groups"), Some(id)) => scim.delete_group(id, version).await.map(|()| Outcome::Deleted),
        ("POST" | "PUT" | "PATCH" | "DELETE", _, _) => Err(bad_path()),
        _ => Err(ScimError::invalid_syntax(format!("'{}' is not a bulk method (POST, PUT, PATCH, DELETE)", op.method))),
    }
}

/// POST /Bulk.
pub async fn bulk(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    deadline: Option<Extension<Deadline>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let stop_at = deadline.map(|Extension(Deadline(at))| at.checked_sub(MARGIN).unwrap_or(at));
    let req = match read_json(&headers, body).await.and_then(|v| BulkRequest::from_body(&v, MAX_OPERATIONS)) {
        Ok(r) => r,
        Err(e) => {
            return noted(
                ScimErrorResponse(e).into_response(),
                ActivityNote { summary: "bulk".into(), ..Default::default() },
            )
        }
    };
    let scim = Scim { store: &s.store, tenant: &c.tenant, base_url: &c.base_url };
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut results = Vec::with_capacity(req.operations.len());
    let mut errors = 0u32;
    let mut out_of_time = false;
    for op in &req.operations {
        if req.fail_on_errors.is_some_and(|limit| limit > 0 && errors >= limit) {
            break;
        }
        // An operation once started runs to its end (cancelling it could drop it after its
        // commit, and then the answer would say "not applied" about a stored change).
        out_of_time = out_of_time || stop_at.is_some_and(|at| std::time::Instant::now() >= at);
        let ran = if out_of_time { None } else { Some(run_one(&scim, op, &ids).await) };
        let Some(ran) = ran else {
            results.push(BulkOperationResult {
                location: None,
                method: op.method.clone(),
                bulk_id: op.bulk_id.clone(),
                version: None,
                status: "503".into(),
                response: Some(
                    ScimError::status(
                        503,
                        "Not applied: the Bulk request ran out of time before this operation finished. \
                         The operations before it were applied; send this one and those after it again.",
                    )
                    .to_json(),
                ),
            });
            continue;
        };
        let result = match ran {
            Ok(Outcome::Written(status, resource, kind)) => {
                if let Some(b) = &op.bulk_id {
                    ids.insert(b.clone(), resource.id.clone());
                }
                BulkOperationResult {
                    location: Some(format!("{}/{kind}/{}", c.base_url, resource.id)),
                    method: op.method.clone(),
                    bulk_id: op.bulk_id.clone(),
                    version: Some(resource.etag()),
                    status: status.to_string(),
                    response: None,
                }
            }
            Ok(Outcome::Deleted) => BulkOperationResult {
                location: None,
                method: op.method.clone(),
                bulk_id: op.bulk_id.clone(),
                version: None,
                status: "204".into(),
                response: None,
            },
            Err(e) => {
                errors += 1;
                BulkOperationResult {
                    location: None,
                    method: op.method.clone(),
                    bulk_id: op.bulk_id.clone(),
                    version: None,
                    status: e.status.to_string(),
                    response: Some(e.to_json()),
                }
            }
        };
        results.push(result);
    }
    let not_run = results.iter().filter(|r| r.status == "503").count();
    let summary = if out_of_time {
        format!("bulk: {} operations, {} failed, {not_run} not applied (out of time)", results.len(), errors)
    } else {
        format!("bulk: {} operations, {} failed", results.len(), errors)
    };
    let body = BulkResponse { schemas: vec![BULK_RESPONSE_URN.into()], operations: results };
    noted(
        json(StatusCode::OK, &serde_json::to_value(body).unwrap_or_default()),
        ActivityNote { resource_type: None, resource_id: None, summary },
    )
}
