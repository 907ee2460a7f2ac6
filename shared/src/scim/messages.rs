//! The protocol's messages (RFC 7644 sections 3.4.2, 3.4.3, 3.7, 3.12; RFC 9865 cursors) and
//! resource metadata (RFC 7643 section 3.1).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ScimError;

/// ListResponse URN.
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// SearchRequest URN.
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// Error URN.
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// BulkRequest URN.
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// BulkResponse URN.
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// PatchOp URN.
pub use super::patch::PATCH_OP_URN;

/// A page of query results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse {
    /// `[ListResponse URN]`.
    pub schemas: Vec<String>,
    /// How many resources match in all (left out of cursor pages, RFC 9865).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_results: Option<u64>,
    /// How many are in this page.
    pub items_per_page: u64,
    /// The 1-based index of the first (index-based paging).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    /// The cursor of the next page (RFC 9865), if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The cursor of the previous page (RFC 9865), if there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_cursor: Option<String>,
    /// The resources.
    #[serde(rename = "Resources")]
    pub resources: Vec<Value>,
}

impl ListResponse {
    /// An index-based page.
    pub fn page(total_results: u64, start_index: u64, resources: Vec<Value>) -> Self {
        ListResponse {
            schemas: vec![LIST_RESPONSE_URN.into()],
            total_results: Some(total_results),
            items_per_page: resources.len() as u64,
            start_index: Some(start_index),
            next_cursor: None,
            previous_cursor: None,
            resources,
        }
    }
}

/// Sort direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// ascending (the default)
    #[default]
    Ascending,
    /// descending
    Descending,
}

impl SortOrder {
    /// Parses `ascending`/`descending` in any case.
    pub fn parse(s: &str) -> Result<SortOrder, ScimError> {
        match s.to_ascii_lowercase().as_str() {
            "ascending" => Ok(SortOrder::Ascending),
            "descending" => Ok(SortOrder::Descending),
            _ => {
                Err(ScimError::invalid_value(format!("sortOrder must be \"ascending\" or \"descending\", not \"{s}\"")))
            }
        }
    }
}

/// A query, from URL parameters or a `POST /.search` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SearchRequest {
    /// `[SearchRequest URN]` (in bodies).
    pub schemas: Vec<String>,
    /// Attributes to return.
    pub attributes: Vec<String>,
    /// Attributes not to return.
    pub excluded_attributes: Vec<String>,
    /// The filter.
    pub filter: Option<String>,
    /// The attribute to sort by.
    pub sort_by: Option<String>,
    /// The sort direction.
    pub sort_order: Option<String>,
    /// 1-based index of the first result.
    pub start_index: Option<i64>,
    /// Page size.
    pub count: Option<i64>,
    /// RFC 9865 cursor (empty string: the first page).
    pub cursor: Option<String>,
}

impl SearchRequest {
    /// Parses a `POST /.search` body.
    pub fn from_body(body: &Value) -> Result<SearchRequest, ScimError> {
        let req: SearchRequest = serde_json::from_value(body.clone())
            .map_err(|e| ScimError::invalid_syntax(format!("invalid SearchRequest: {e}")))?;
        if !req.schemas.iter().any(|s| s.eq_ignore_ascii_case(SEARCH_REQUEST_URN)) {
            return Err(ScimError::invalid_syntax(format!("'schemas' must be [\"{SEARCH_REQUEST_URN}\"]")));
        }
        Ok(req)
    }

    /// The 1-based start index, with RFC 7644's rule: values below 1 mean 1.
    pub fn start_index(&self) -> u64 {
        self.start_index.unwrap_or(1).max(1) as u64
    }

    /// The page size clamped to `0..=max` (negative means 0, absent means `default`).
    pub fn count(&self, default: u64, max: u64) -> u64 {
        match self.count {
            None => default.min(max),
            Some(c) if c < 0 => 0,
            Some(c) => (c as u64).min(max),
        }
    }
}

/// Resource metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `User` or `Group`.
    pub resource_type: String,
    /// xsd:dateTime.
    pub created: String,
    /// xsd:dateTime.
    pub last_modified: String,
    /// The resource's URL.
    pub location: String,
    /// The weak ETag, e.g. `W/"3"`.
    pub version: String,
}

/// One operation of a BulkRequest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperation {
    /// POST, PUT, PATCH or DELETE.
    pub method: String,
    /// The client's id for a POST, referenced elsewhere as `bulkId:<id>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The expected version (If-Match).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource path, e.g. `/Users` or `/Groups/abc`.
    pub path: String,
    /// The body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A BulkRequest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    /// `[BulkRequest URN]`.
    pub schemas: Vec<String>,
    /// Stop after this many errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_on_errors: Option<u32>,
    /// The operations.
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// Parses and checks a BulkRequest body against the advertised limits.
    pub fn from_body(body: &Value, max_operations: usize) -> Result<BulkRequest, ScimError> {
        let req: BulkRequest = serde_json::from_value(body.clone())
            .map_err(|e| ScimError::invalid_syntax(format!("invalid BulkRequest: {e}")))?;
        if !req.schemas.iter().any(|s| s.eq_ignore_ascii_case(BULK_REQUEST_URN)) {
            return Err(ScimError::invalid_syntax(format!("'schemas' must be [\"{BULK_REQUEST_URN}\"]")));
        }
        if req.operations.len() > max_operations {
            return Err(ScimError {
                status: 413,
                scim_type: None,
                detail: format!("the request has {} operations; the limit is {max_operations}", req.operations.len()),
            });
        }
        Ok(req)
    }
}

/// The result of one bulk operation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationResult {
    /// The resource's URL, for successful writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The method.
    pub method: String,
    /// The client's bulk id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The new version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The HTTP status, as a string (RFC 7644 section 3.7.3).
    pub status: String,
    /// The error body, for failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// A BulkResponse.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BulkResponse {
    /// `[BulkResponse URN]`.
    pub schemas: Vec<String>,
    /// The results, in request order.
    #[serde(rename = "Operations")]
    pub operations: Vec<BulkOperationResult>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn list_response_shape() {
        let v = serde_json::to_value(ListResponse::page(2, 1, vec![json!({"id": "a"})])).unwrap();
        assert_eq!(
            v,
            json!({"schemas": [LIST_RESPONSE_URN], "totalResults": 2, "itemsPerPage": 1, "startIndex": 1, "Resources": [{"id": "a"}]})
        );
    }

    #[test]
    fn search_request_from_rfc_example() {
        // RFC 7644 section 3.4.3.
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "attributes": ["displayName", "userName"],
            "filter": "displayName sw \"smith\"",
            "startIndex": 1,
            "count": 10
        });
        let req = SearchRequest::from_body(&body).unwrap();
        assert_eq!(req.filter.as_deref(), Some("displayName sw \"smith\""));
        assert_eq!((req.start_index(), req.count(100, 1000)), (1, 10));
        assert!(SearchRequest::from_body(&json!({"filter": "x pr"})).is_err());
        assert_eq!(SearchRequest { start_index: Some(-4), count: Some(-1), ..Default::default() }.start_index(), 1);
        assert_eq!(SearchRequest { count: Some(-1), ..Default::default() }.count(100, 1000), 0);
        assert_eq!(SearchRequest { count: Some(5000), ..Default::default() }.count(100, 1000), 1000);
        assert!(SortOrder::parse("DESCENDING").is_ok() && SortOrder::parse("up").is_err());
    }

    #[test]
    fn bulk_request_from_rfc_example() {
        // RFC 7644 section 3.7.2 (shortened).
        let body = json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "failOnErrors": 1,
            "Operations": [
                {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "Alice"}},
                {"method": "PUT", "path": "/Users/b7c14771-226c-4d05-8860-134711653041", "version": "W/\"3694e05e9dff591\"",
                 "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "b7c14771-226c-4d05-8860-134711653041", "userName": "Bob"}},
                {"method": "DELETE", "path": "/Users/e9025315-6bea-44e1-899c-1e07454e468b", "version": "W/\"0ee8add0a938e1a\""}
            ]
        });
        let req = BulkRequest::from_body(&body, 1000).unwrap();
        assert_eq!(req.operations.len(), 3);
        assert_eq!(req.operations[0].bulk_id.as_deref(), Some("qwerty"));
        assert_eq!(BulkRequest::from_body(&body, 2).unwrap_err().status, 413);
    }
}
