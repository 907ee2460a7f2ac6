//! Password hashing with argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes, 1 lane, the
//! OWASP minimum), run on the blocking pool so that a burst of sign-ins never stalls the
//! async workers.
//!
//! At most [`concurrency`] hashes run at once (one per core): each takes 19 MiB, so a burst of
//! hundreds of sign-ins would otherwise take gigabytes. A hash that cannot start within
//! [`WAIT`] is not run: the caller gets `DomainError::Busy` ("try again") at once instead of
//! queueing without bound.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::{DomainError, DomainResult};

/// How long a hash waits for its turn before the caller is told to try again.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How many hashes run at once: the cores (at least 2).
pub fn concurrency() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2)
}

fn permits() -> &'static std::sync::Arc<tokio::sync::Semaphore> {
    static PERMITS: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency())))
}

/// Runs one argon2 computation on the blocking pool, within the concurrency bound.
async fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> DomainResult<T> {
    let permit = match tokio::time::timeout(WAIT, permits().clone().acquire_owned()).await {
        Ok(Ok(p)) => p,
        _ => return Err(DomainError::Busy("Too many sign-ins at once. Try again in a moment.".into())),
    };
    tokio::task::spawn_blocking(move || {
        let out = work();
        // The hash's 19 MiB are freed: hand them back (see `crate::memory`).
        crate::memory::release_freed();
        drop(permit);
        out
    })
    .await
    .map_err(|e| DomainError::Internal(format!("hashing task: {e}")))
}

/// Hashes a password into a PHC string (`$argon2id$v=19$…`).
pub async fn hash(password: String) -> DomainResult<String> {
    bounded(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| DomainError::Internal(format!("argon2: {e}")))
    })
    .await?
}

/// Checks a password against a stored PHC string. A malformed stored hash counts as a mismatch
/// (and is logged), never as a match.
pub async fn verify(password: String, stored: String) -> DomainResult<bool> {
    bounded(move || match PasswordHash::new(&stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(e) => {
            tracing::error!("stored password hash is malformed: {e}");
            false
        }
    })
    .await
}

/// A hash of a random password, for equalizing the time of a sign-in with an unknown email
/// with that of a wrong password.
pub async fn dummy_hash() -> DomainResult<String> {
    use rand::distributions::{Alphanumeric, DistString};
    let random = Alphanumeric.sample_string(&mut rand::thread_rng(), 24);
    hash(random).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery".into(), h.clone()).await.unwrap());
        assert!(!verify("correct horse batterz".into(), h).await.unwrap());
        assert!(!verify("x".into(), "not a hash".into()).await.unwrap());
    }

    #[tokio::test]
    async fn each_hash_and_verify_hands_its_memory_back() {
        let before = crate::memory::testing::releases();
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(verify("correct horse battery".into(), h).await.unwrap());
        // Other tests of this binary may release at the same time: at least these two did.
        assert!(crate::memory::testing::releases() >= before + 2);
    }
}
