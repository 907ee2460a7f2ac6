//! The pages' forms: Leptos' `ActionForm`, with the form's fields read into the server
//! function's arguments by `serde_json` instead of `serde_qs`.
//!
//! A form is an HTML `<form method="post">` to its server function's URL, so that it works
//! before hydration and without JavaScript (the server decodes the posted fields with
//! `serde_qs`, as before). Once the page is hydrated, a submit becomes the server action's
//! `fetch`: Leptos' own `ActionForm` turns the fields into a query string and decodes that with
//! `serde_qs` into the arguments, which are then encoded into a query string again for the
//! request. That decoder (a parser into a tree of `BTreeMap`s, and each argument type's code
//! for it) was ~38 KB of the main wasm before wasm-opt, and more in every page module with a
//! form. Here the fields become a JSON object, decoded by `serde_json::from_slice`, which the
//! pages carry anyway for the server functions' answers.
//!
//! The fields map as `serde_qs` maps them for our forms' arguments (strings, optional strings,
//! optional lists of strings): `name[]` fields make a list, in order; a name given twice is an
//! error (`serde_qs`: "multiple values for one key"; here a duplicate field); a missing field
//! is `None` or, for a required one, an error. Other bracketed names (`a[b]`, `a[0]`) are
//! refused rather than guessed: no form of ours has them. One difference, invisible to the
//! server: an empty optional field is `Some("")` here where `serde_qs` makes it `None`; the
//! request carries `name=` either way, which the server decodes to `None`. A server function's
//! redirect goes through the hook the router sets (Leptos' form sets a default one when there is
//! no router; ours always has one).

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::server_fn::client::Client;
use leptos::server_fn::codec::PostUrl;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use leptos::server_fn::{Http, ServerFn};
use serde::de::DeserializeOwned;

/// A form that calls `action`'s server function (see the module doc).
#[component]
pub fn ActionForm<ServFn, OutputProtocol>(
    /// The server function's action: its value and pending state are the form's outcome.
    action: ServerAction<ServFn>,
    /// Where to keep the `<form>` element (to reset it after a success, say).
    #[prop(optional)]
    node_ref: Option<NodeRef<leptos::html::Form>>,
    children: Children,
) -> impl IntoView
where
    ServFn: DeserializeOwned + ServerFn<Protocol = Http<PostUrl, OutputProtocol>> + Clone + Send + Sync + 'static,
    ServFn::Output: Send + Sync + 'static,
    ServFn::Error: Send + Sync + 'static,
    ServFn::Client: Client<ServFn::Error>,
{
    let on_submit = move |ev: SubmitEvent| {
        if ev.default_prevented() {
            return;
        }
        ev.prevent_default();
        match fields_as_json(&ev)
            .and_then(|json| serde_json::from_slice::<ServFn>(json.as_bytes()).map_err(|e| e.to_string()))
        {
            Ok(input) => {
                action.dispatch(input);
            }
            Err(err) => {
                let error = ServFn::Error::from_server_fn_error(ServerFnErrorErr::Serialization(err));
                action.value().set(Some(Err(error)));
                action.version().update(|n| *n += 1);
            }
        }
    };
    let node_ref = node_ref.unwrap_or_default();
    view! {
        <form action=ServFn::url() method="post" on:submit=on_submit node_ref=node_ref>{children()}</form>
    }
}

/// The submitted form's fields (and the button that submitted it) as one JSON object.
#[cfg(feature = "hydrate")]
fn fields_as_json(ev: &SubmitEvent) -> Result<String, String> {
    use wasm_bindgen::JsCast;

    let data = leptos::form::form_data_from_event(ev).map_err(|e| e.to_string())?;
    let entries = js_sys::try_iter(&data)
        .map_err(|_| "the form's fields could not be read".to_string())?
        .ok_or_else(|| "the form's fields could not be read".to_string())?;
    let mut fields = Vec::new();
    for entry in entries {
        let pair: js_sys::Array =
            entry.map_err(|_| "the form's fields could not be read".to_string())?.unchecked_into();
        let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) else {
            // A file: no server function of ours takes one from a form.
            continue;
        };
        fields.push((name, value));
    }
    json_object(fields)
}

/// Forms are submitted in the browser; the server renders them only.
#[cfg(not(feature = "hydrate"))]
fn fields_as_json(_: &SubmitEvent) -> Result<String, String> {
    Err("a form is submitted in the browser".into())
}

/// The fields, in order, as a JSON object: `name[]` fields gathered into a list (where the
/// first of them stood), every other field a string; nameless fields (an unnamed submit
/// button) left out.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn json_object(fields: Vec<(String, String)>) -> Result<String, String> {
    enum Value {
        One(String),
        Many(Vec<String>),
    }
    let mut members: Vec<(String, Value)> = Vec::new();
    for (name, value) in fields {
        if name.is_empty() {
            continue;
        }
        if let Some(list) = name.strip_suffix("[]") {
            match members.iter_mut().find(|(n, v)| n == list && matches!(v, Value::Many(_))) {
                Some((_, Value::Many(values))) => values.push(value),
                _ => members.push((list.to_string(), Value::Many(vec![value]))),
            }
        } else if name.contains('[') {
            return Err(format!("the form field {name:?} is not supported"));
        } else {
            // A name given twice stays twice: the decoder refuses the duplicate field.
            members.push((name, Value::One(value)));
        }
    }
    let mut json = String::from("{");
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&string(name));
        json.push(':');
        match value {
            Value::One(v) => json.push_str(&string(v)),
            Value::Many(vs) => {
                json.push('[');
                json.push_str(&vs.iter().map(|v| string(v)).collect::<Vec<_>>().join(","));
                json.push(']');
            }
        }
    }
    json.push('}');
    Ok(json)
}

/// A JSON string (writing a `str` cannot fail; were it to, the object would not decode).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::json_object;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Args {
        group_id: String,
        user_ids: Option<Vec<String>>,
        note: Option<String>,
    }

    fn decode(fields: &[(&str, &str)]) -> Result<Args, String> {
        let json = json_object(fields.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())?;
        serde_json::from_slice(json.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn fields_become_the_arguments() {
        let args = decode(&[("user_ids[]", "a"), ("group_id", "g \"1\"\n<b>"), ("user_ids[]", "b"), ("", "submit")]);
        assert_eq!(
            args,
            Ok(Args { group_id: "g \"1\"\n<b>".into(), user_ids: Some(vec!["a".into(), "b".into()]), note: None })
        );
        assert_eq!(decode(&[("group_id", "g"), ("note", "")]).map(|a| a.note), Ok(Some(String::new())));
    }

    #[test]
    fn what_serde_qs_refuses_is_refused() {
        // A required field missing, a name given twice, a bracketed name we do not map.
        assert!(decode(&[("user_ids[]", "a")]).is_err());
        assert!(decode(&[("group_id", "g"), ("group_id", "h")]).is_err());
        assert!(decode(&[("group_id", "g"), ("user_ids[0]", "a")]).is_err());
    }
}
