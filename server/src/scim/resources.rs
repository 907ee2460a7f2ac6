//! /Users, /Groups and /.search.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use roster_shared::scim::messages::{ListResponse, SearchRequest};
use roster_shared::scim::projection::Projection;
use roster_shared::scim::schema::ResourceSchema;
use roster_shared::scim::ScimError;
use roster_shared::service::provisioning::{Listed, Resource, Scim};
use roster_shared::service::Services;
use serde_json::Value;

use super::auth::ScimCaller;
use super::response::{json, noted, resource, ActivityNote, ScimErrorResponse};
use super::MAX_BODY_BYTES;

type Result<T> = std::result::Result<T, ScimErrorResponse>;

fn scim<'a>(services: &'a Services, caller: &'a ScimCaller) -> Scim<'a> {
    Scim { store: &services.store, tenant: &caller.tenant, base_url: &caller.base_url }
}

/// Reads a JSON body: `application/scim+json` or `application/json`, at most 1 MiB, without a
/// NUL character in any string (see [`roster_shared::scim::holds_nul`]).
pub(crate) async fn read_json(headers: &HeaderMap, body: Body) -> std::result::Result<Value, ScimError> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if mime != "application/scim+json" && mime != "application/json" {
            return Err(ScimError::status(
                415,
                format!("send the body as application/scim+json (or application/json), not {mime}"),
            ));
        }
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ScimError::status(413, format!("the request body is larger than {MAX_BODY_BYTES} bytes")))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ScimError::invalid_syntax(format!("the body is not valid JSON: {e}")))?;
    if roster_shared::scim::holds_nul(&bytes, &value) {
        return Err(ScimError::invalid_value("a value contains a NUL character (U+0000), which Roster does not store"));
    }
    Ok(value)
}

/// 304 with the ETag when `If-None-Match` names the current version.
fn not_modified(headers: &HeaderMap, r: &Resource) -> Option<Response> {
    let inm = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())?;
    if !roster_shared::service::provisioning::if_match_allows(inm, r.version) {
        return None;
    }
    let mut res = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(v) = r.etag().parse() {
        res.headers_mut().insert(header::ETAG, v);
    }
    Some(res)
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Query parameters of GET requests (names matched case-insensitively).
fn query_params(raw: Option<&str>) -> std::result::Result<SearchRequest, ScimError> {
    let mut req = SearchRequest::default();
    let list = |v: &str| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>();
    for (k, v) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let int = |v: &str| {
            v.trim().parse::<i64>().map_err(|_| ScimError::invalid_value(format!("{k} must be an integer, not '{v}'")))
        };
        match k.to_ascii_lowercase().as_str() {
            "filter" => req.filter = Some(v.into_owned()),
            "sortby" => req.sort_by = Some(v.into_owned()),
            "sortorder" => req.sort_order = Some(v.into_owned()),
            "startindex" => req.start_index = Some(int(&v)?),
            "count" => req.count = Some(int(&v)?),
            "attributes" => req.attributes = list(&v),
            "excludedattributes" => req.excluded_attributes = list(&v),
            "cursor" => req.cursor = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok(req)
}

fn listed(l: Listed) -> Response {
    let body = ListResponse {
        schemas: vec![roster_shared::scim::messages::LIST_RESPONSE_URN.into()],
        total_results: l.total,
        items_per_page: l.resources.len() as u64,
        start_index: l.start_index,
        next_cursor: l.next_cursor,
        previous_cursor: None,
        resources: l.resources,
    };
    json(StatusCode::OK, &serde_json::to_value(body).unwrap_or_default())
}

fn summary_of(req: &SearchRequest) -> String {
    match &req.filter {
        Some(f) => format!("filter {}", f.chars().take(200).collect::<String>()),
        None => "list".into(),
    }
}

/// The resource's JSON as the request's `attributes`/`excludedAttributes` ask for it (taken out
/// of `r`: its id and version stay).
fn projected(r: &mut Resource, raw: Option<&str>, schema: &ResourceSchema) -> Result<Value> {
    let q = query_params(raw)?;
    let p = Projection::from_lists(&q.attributes, &q.excluded_attributes, schema)?;
    Ok(p.apply_owned(std::mem::take(&mut r.json), schema))
}

fn note(kind: &str, id: Option<&str>, summary: impl Into<String>) -> ActivityNote {
    ActivityNote { resource_type: Some(kind.into()), resource_id: id.map(str::to_string), summary: summary.into() }
}

fn user_name(v: &Value) -> String {
    v.get("userName").and_then(Value::as_str).unwrap_or_default().to_string()
}

fn display_name(v: &Value) -> String {
    v.get("displayName").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Wraps a handler's error with the activity note it should carry.
fn with_note(r: Result<Response>, n: ActivityNote) -> Response {
    match r {
        Ok(res) => noted(res, n),
        Err(e) => noted(e.into_response(), n),
    }
}

// ----- Users -----

pub async fn list_users(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut n = note("User", None, "list");
    let r = async {
        let req = query_params(raw.as_deref())?;
        n.summary = summary_of(&req);
        Ok(scim(&s, &c).search_users(&req).await.map(listed)?)
    }
    .await;
    with_note(r, n)
}

pub async fn search_users(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let req = SearchRequest::from_body(&read_json(&headers, body).await?)?;
        Ok::<_, ScimErrorResponse>(scim(&s, &c).search_users(&req).await.map(listed)?)
    }
    .await;
    with_note(r, note("User", None, "search"))
}

pub async fn create_user(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut n = note("User", None, "create");
    let r = async {
        let input = read_json(&headers, body).await?;
        n.summary = format!("create {}", user_name(&input));
        let mut created = scim(&s, &c).create_user(&input).await?;
        n.resource_id = Some(created.id.clone());
        let body = projected(&mut created, raw.as_deref(), ResourceSchema::user())?;
        let location = format!("{}/Users/{}", c.base_url, created.id);
        Ok(resource(StatusCode::CREATED, &body, &created.etag(), Some(&location)))
    }
    .await;
    with_note(r, n)
}

pub async fn get_user(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let mut user = scim(&s, &c).get_user(&id).await?;
        if let Some(res) = not_modified(&headers, &user) {
            return Ok(res);
        }
        let body = projected(&mut user, raw.as_deref(), ResourceSchema::user())?;
        Ok(resource(StatusCode::OK, &body, &user.etag(), None))
    }
    .await;
    with_note(r, note("User", Some(&id), "get"))
}

pub async fn replace_user(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let input = read_json(&headers, body).await?;
        let mut user = scim(&s, &c).replace_user(&id, &input, if_match(&headers).as_deref()).await?;
        let body = projected(&mut user, raw.as_deref(), ResourceSchema::user())?;
        Ok(resource(StatusCode::OK, &body, &user.etag(), None))
    }
    .await;
    with_note(r, note("User", Some(&id), "replace"))
}

pub async fn patch_user(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut n = note("User", Some(&id), "patch");
    let r = async {
        let input = read_json(&headers, body).await?;
        let (mut user, summary) = scim(&s, &c).patch_user(&id, &input, if_match(&headers).as_deref()).await?;
        n.summary = summary;
        let body = projected(&mut user, raw.as_deref(), ResourceSchema::user())?;
        Ok(resource(StatusCode::OK, &body, &user.etag(), None))
    }
    .await;
    with_note(r, n)
}

pub async fn delete_user(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let mut summary = "delete";
    let r = async {
        if scim(&s, &c).delete_user(&id, if_match(&headers).as_deref()).await? {
            summary = "delete (held by the deprovisioning brake)";
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    with_note(r, note("User", Some(&id), summary))
}

// ----- Groups -----

fn wants_members(raw: Option<&str>) -> bool {
    let Ok(q) = query_params(raw) else { return true };
    let excluded = q.excluded_attributes.iter().any(|a| a.eq_ignore_ascii_case("members"));
    let listed = q.attributes.is_empty() || q.attributes.iter().any(|a| a.to_ascii_lowercase().starts_with("members"));
    !excluded && listed
}

pub async fn list_groups(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut n = note("Group", None, "list");
    let r = async {
        let req = query_params(raw.as_deref())?;
        n.summary = summary_of(&req);
        Ok(scim(&s, &c).search_groups(&req).await.map(listed)?)
    }
    .await;
    with_note(r, n)
}

pub async fn search_groups(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let req = SearchRequest::from_body(&read_json(&headers, body).await?)?;
        Ok::<_, ScimErrorResponse>(scim(&s, &c).search_groups(&req).await.map(listed)?)
    }
    .await;
    with_note(r, note("Group", None, "search"))
}

pub async fn create_group(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut n = note("Group", None, "create");
    let r = async {
        let input = read_json(&headers, body).await?;
        n.summary = format!("create {}", display_name(&input));
        let mut created = scim(&s, &c).create_group(&input).await?;
        n.resource_id = Some(created.id.clone());
        let body = projected(&mut created, raw.as_deref(), ResourceSchema::group())?;
        let location = format!("{}/Groups/{}", c.base_url, created.id);
        Ok(resource(StatusCode::CREATED, &body, &created.etag(), Some(&location)))
    }
    .await;
    with_note(r, n)
}

pub async fn get_group(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Response {
    let r = async {
        let mut group = scim(&s, &c).get_group(&id, wants_members(raw.as_deref())).await?;
        if let Some(res) = not_modified(&headers, &group) {
            return Ok(res);
        }
        let body = projected(&mut group, raw.as_deref(), ResourceSchema::group())?;
        Ok(resource(StatusCode::OK, &body, &group.etag(), None))
    }
    .await;
    with_note(r, note("Group", Some(&id), "get"))
}

pub async fn replace_group(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let input = read_json(&headers, body).await?;
        let mut group = scim(&s, &c).replace_group(&id, &input, if_match(&headers).as_deref()).await?;
        let body = projected(&mut group, raw.as_deref(), ResourceSchema::group())?;
        Ok(resource(StatusCode::OK, &body, &group.etag(), None))
    }
    .await;
    with_note(r, note("Group", Some(&id), "replace"))
}

pub async fn patch_group(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut n = note("Group", Some(&id), "patch");
    let r = async {
        let input = read_json(&headers, body).await?;
        // RFC 7644 3.5.2 allows 204 No Content. Returning a 100,000-member list after adding
        // one member helps nobody, so the group comes back only when the client asks for
        // attributes.
        let asked = !query_params(raw.as_deref())?.attributes.is_empty();
        let (mut group, summary) = scim(&s, &c).patch_group(&id, &input, if_match(&headers).as_deref(), asked).await?;
        n.summary = summary;
        if !asked {
            let mut res = StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = group.etag().parse() {
                res.headers_mut().insert(header::ETAG, v);
            }
            return Ok(res);
        }
        let body = projected(&mut group, raw.as_deref(), ResourceSchema::group())?;
        Ok(resource(StatusCode::OK, &body, &group.etag(), None))
    }
    .await;
    with_note(r, n)
}

pub async fn delete_group(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        scim(&s, &c).delete_group(&id, if_match(&headers).as_deref()).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    with_note(r, note("Group", Some(&id), "delete"))
}

/// POST /.search: the same query over Users and then Groups (a filter that names attributes of
/// only one type applies to that type).
pub async fn search_root(
    State(s): State<Services>,
    Extension(c): Extension<ScimCaller>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let r = async {
        let req = SearchRequest::from_body(&read_json(&headers, body).await?)?;
        let all = SearchRequest {
            cursor: None,
            start_index: Some(1),
            count: Some(roster_shared::service::provisioning::MAX_PAGE_SIZE as i64),
            ..req.clone()
        };
        let users = scim(&s, &c).search_users(&all).await;
        let groups = scim(&s, &c).search_groups(&all).await;
        let (users, groups) = match (users, groups) {
            (Err(e), Err(_)) => return Err(e.into()),
            (u, g) => (u.ok(), g.ok()),
        };
        let mut resources: Vec<Value> = Vec::new();
        let mut total = 0;
        for l in [users, groups].into_iter().flatten() {
            total += l.total.unwrap_or(0);
            resources.extend(l.resources);
        }
        let start = req.start_index();
        let count = req.count(
            roster_shared::service::provisioning::DEFAULT_PAGE_SIZE,
            roster_shared::service::provisioning::MAX_PAGE_SIZE,
        ) as usize;
        let page: Vec<Value> = resources.into_iter().skip((start - 1) as usize).take(count).collect();
        Ok(listed(Listed { total: Some(total), start_index: Some(start), next_cursor: None, resources: page }))
    }
    .await;
    with_note(r, ActivityNote { resource_type: None, resource_id: None, summary: "search".into() })
}
