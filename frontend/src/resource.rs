//! The pages' resources, with the codec their values travel in from the server's render to the
//! browser's hydration.
//!
//! Leptos' default (`JsonSerdeCodec`) decodes a resource's value with `serde_json::from_str`,
//! while a server function's answer (the same types, when a resource loads again in the
//! browser) decodes with `serde_json::from_slice`. serde compiles each type's decoding once
//! per reader, so every type the pages load was decoded by two copies of the same code (~30 KB
//! of the main wasm alone). [`PageJson`] writes the same JSON and reads it as bytes: one copy.
//!
//! What a `Suspense` or `Transition` shows once its resources are there is made with
//! [`suspend`], for the same reason: one copy of the boundaries' code.

use std::future::Future;

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// JSON, read with the server functions' reader (see the module's doc).
pub struct PageJson;

impl<T: Serialize> Encoder<T> for PageJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, Self::Error> {
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for PageJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, Self::Error> {
        serde_json::from_slice(val.as_bytes())
    }
}

/// A page's data: loaded on the server for its first render, then again in the browser
/// whenever `source` changes.
pub type Loaded<T> = Resource<T, PageJson>;

/// [`Resource::new`] with [`PageJson`].
#[track_caller]
pub fn load<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Loaded<T>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

/// [`Resource::new_blocking`] with [`PageJson`]: the server waits for it before it sends the
/// page's headers (a redirect, a status code).
#[track_caller]
pub fn load_blocking<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Loaded<T>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, true)
}

/// What a `Suspense` or `Transition` shows once `view` is ready, its type erased to `AnyView`.
///
/// A `Suspense` is compiled once per type its child shows: the boundary, its effects and its
/// hydration, for both the server and the browser. With every child a `Suspend<AnyView>`, the
/// dashboard's 47 boundaries share one copy of that code (one for `Suspense`, one for
/// `Transition`) instead of one per shape of what they show.
pub fn suspend<V>(view: impl Future<Output = V> + Send + 'static) -> Suspend<AnyView>
where
    V: IntoAny,
{
    Suspend::new(async move { view.await.into_any() })
}
