//! Discovery (RFC 7644 section 4): ServiceProviderConfig, ResourceTypes, Schemas; and the
//! endpoints Roster does not offer (yet), answered in SCIM's shape.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use roster_shared::scim::schema::ResourceSchema;
use roster_shared::scim::ScimError;
use roster_shared::service::provisioning::MAX_PAGE_SIZE;
use serde_json::{json, Value};

use super::auth::ScimCaller;
use super::response::{json, ScimErrorResponse};
use super::MAX_BODY_BYTES;

fn types() -> [&'static ResourceSchema; 2] {
    [ResourceSchema::user(), ResourceSchema::group()]
}

/// GET /ServiceProviderConfig.
pub async fn service_provider_config(Extension(caller): Extension<ScimCaller>) -> Response {
    json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "documentationUri": "https://github.com/roster/roster#readme",
            "patch": { "supported": true },
            "bulk": { "supported": true, "maxOperations": super::bulk::MAX_OPERATIONS, "maxPayloadSize": MAX_BODY_BYTES },
            "filter": { "supported": true, "maxResults": MAX_PAGE_SIZE },
            "changePassword": { "supported": false },
            "sort": { "supported": true },
            "etag": { "supported": true },
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A bearer token created in the Roster dashboard or with `roster scim token create`.",
                "primary": true
            }, {
                "type": "httpbasic",
                "name": "HTTP Basic",
                "description": "A user name and password created with `roster scim basic create` (the user name is the credential id)."
            }, {
                "type": "oauth2",
                "name": "OAuth 2.0 client credentials",
                "description": format!("POST grant_type=client_credentials to {}/oauth/token with a client from `roster scim oauth create`; send the access token as a bearer token.", caller.base_url)
            }],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": format!("{}/ServiceProviderConfig", caller.base_url)
            }
        }),
    )
}

fn list(resources: Vec<Value>) -> Value {
    let page = roster_shared::scim::messages::ListResponse::page(resources.len() as u64, 1, resources);
    serde_json::to_value(page).unwrap_or_default()
}

/// GET /ResourceTypes.
pub async fn resource_types(Extension(caller): Extension<ScimCaller>) -> Response {
    json(
        StatusCode::OK,
        &list(
            types()
                .iter()
                .map(|r| r.resource_type_json(&format!("{}/ResourceTypes/{}", caller.base_url, r.name)))
                .collect(),
        ),
    )
}

/// GET /ResourceTypes/{name}.
pub async fn resource_type(
    Extension(caller): Extension<ScimCaller>,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ScimErrorResponse> {
    let r = types()
        .into_iter()
        .find(|r| r.name.eq_ignore_ascii_case(&name))
        .ok_or_else(|| ScimError::status(404, format!("no resource type '{name}'")))?;
    Ok(json(StatusCode::OK, &r.resource_type_json(&format!("{}/ResourceTypes/{}", caller.base_url, r.name))))
}

fn all_schemas() -> Vec<&'static roster_shared::scim::schema::Schema> {
    let mut out = Vec::new();
    for r in types() {
        out.push(r.core.as_ref());
        for (ext, _) in &r.extensions {
            out.push(ext.as_ref());
        }
    }
    out
}

/// GET /Schemas.
pub async fn schemas(Extension(caller): Extension<ScimCaller>) -> Response {
    json(
        StatusCode::OK,
        &list(all_schemas().iter().map(|s| s.to_json(&format!("{}/Schemas/{}", caller.base_url, s.id))).collect()),
    )
}

/// GET /Schemas/{id}.
pub async fn schema(
    Extension(caller): Extension<ScimCaller>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ScimErrorResponse> {
    let s = all_schemas()
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ScimError::status(404, format!("no schema '{id}'")))?;
    Ok(json(StatusCode::OK, &s.to_json(&format!("{}/Schemas/{}", caller.base_url, s.id))))
}

/// /Me: there is no "current user" behind an IdP's provisioning token.
pub async fn me() -> ScimErrorResponse {
    ScimErrorResponse(ScimError::status(
        501,
        "/Me is not supported: SCIM credentials belong to an identity provider, not to a user",
    ))
}
