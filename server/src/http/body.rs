//! Reading a request body whole, with a size limit and a time limit.
//!
//! A limit on size alone lets a client hold a connection and a task forever by sending one byte
//! now and then; axum's extractors have no time limit of their own. Every handler that reads a
//! body outside the dashboard (whose routes sit under a request timeout) reads it here.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;

/// How long a client may take to send a whole body, unless the route says otherwise.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than the limit.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// Not complete within the time limit (seconds).
    #[error("the request body did not arrive within {0} s")]
    TimedOut(u64),
    /// The connection failed while reading.
    #[error("the request body could not be read")]
    Failed,
}

impl BodyError {
    /// The status to answer with.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Failed => StatusCode::BAD_REQUEST,
        }
    }
}

/// Reads `body` whole: at most `limit` bytes, within `timeout`.
pub async fn read(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(BodyError::TimedOut(timeout.as_secs().max(1))),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            // axum reports an over-limit body as an error whose source is `LengthLimitError`.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = source {
                if s.is::<http_body_util::LengthLimitError>() {
                    return Err(BodyError::TooLarge(limit));
                }
                source = s.source();
            }
            Err(BodyError::Failed)
        }
    }
}
