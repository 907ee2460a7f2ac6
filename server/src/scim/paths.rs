//! Endpoint names as identity providers really spell them.
//!
//! RFC 7644 names the endpoints `/Users`, `/Groups`, `/ServiceProviderConfig`, …, and most IdPs
//! use those names, but some lower-case them (`/users`), add a trailing slash (`/Users/`), or use
//! SCIM 1.1's `/serviceConfiguration`. Such a request is sent on to the endpoint it names, rather
//! than answered 404. Only the endpoint name is rewritten — never an id, a query or anything
//! after `/scim/v2/{tenant}` that names no endpoint — so no request reaches a resource it did not
//! name.
//!
//! Axum routes on the exact path, and middleware on a route runs after routing; so [`normalize`]
//! runs on the request before the application's router sees it (see `crate::app::router`).

use axum::extract::Request;
use http::Uri;

const PREFIX: &str = "/scim/v2/";

/// The canonical name of an endpoint, for a name in any case (and SCIM 1.1's names).
fn canonical(segment: &str) -> Option<&'static str> {
    const NAMES: [&str; 8] =
        ["Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas", "Bulk", "Me", ".search"];
    if segment.eq_ignore_ascii_case("serviceConfiguration") {
        return Some("ServiceProviderConfig");
    }
    NAMES.into_iter().find(|n| n.eq_ignore_ascii_case(segment))
}

/// The path a SCIM request means: `/scim/v2/t/users/` → `/scim/v2/t/Users`. `None` when the path
/// is already canonical or is no SCIM endpoint.
pub fn canonical_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix(PREFIX)?;
    let (tenant, rest) = rest.split_once('/')?;
    let trimmed = rest.strip_suffix('/').unwrap_or(rest);
    let mut segments = trimmed.splitn(3, '/');
    let first = segments.next().filter(|s| !s.is_empty())?;
    let name = canonical(first)?;
    let second = segments.next();
    let third = segments.next();
    // `.search` under Users and Groups: `/users/.SEARCH`.
    let second = match second {
        Some(s) if s.eq_ignore_ascii_case(".search") && third.is_none() => Some(".search"),
        other => other,
    };
    let mut out = String::with_capacity(path.len());
    out.push_str(PREFIX);
    out.push_str(tenant);
    out.push('/');
    out.push_str(name);
    for s in [second, third].into_iter().flatten() {
        out.push('/');
        out.push_str(s);
    }
    (out != path).then_some(out)
}

/// Rewrites the request's path to its canonical form (see the module doc).
pub fn normalize(mut req: Request) -> Request {
    let Some(path) = canonical_path(req.uri().path()) else { return req };
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = req.uri().clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        Err(_) => return req,
    }
    if let Ok(uri) = Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    req
}

#[cfg(test)]
mod tests {
    use super::canonical_path;

    #[test]
    fn endpoint_names_in_any_case_and_with_a_trailing_slash() {
        let t = "/scim/v2/acme";
        for (given, meant) in [
            ("/users", Some("/Users")),
            ("/USERS/", Some("/Users")),
            ("/Users/", Some("/Users")),
            ("/users/abc", Some("/Users/abc")),
            ("/users/abc/", Some("/Users/abc")),
            ("/groups/.Search", Some("/Groups/.search")),
            ("/serviceConfiguration", Some("/ServiceProviderConfig")),
            ("/serviceproviderconfig/", Some("/ServiceProviderConfig")),
            ("/resourcetypes/user", Some("/ResourceTypes/user")),
            ("/schemas", Some("/Schemas")),
            ("/bulk", Some("/Bulk")),
            // Already canonical, or no endpoint: left alone.
            ("/Users", None),
            ("/Users/abc", None),
            ("/Users/ABC", None),
            ("/oauth/token", None),
            ("/Nope", None),
            ("/", None),
            ("", None),
        ] {
            let got = canonical_path(&format!("{t}{given}"));
            assert_eq!(got, meant.map(|m| format!("{t}{m}")), "{given}");
        }
        // Ids keep their case; only the endpoint name changes.
        assert_eq!(canonical_path("/scim/v2/a/users/AbC"), Some("/scim/v2/a/Users/AbC".into()));
        assert_eq!(canonical_path("/other/users"), None);
    }
}
