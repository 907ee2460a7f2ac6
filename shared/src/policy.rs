//! Rules that the dashboard checks as the user types and the server enforces on every request.
//!
//! They live in the pure layer so that both sides use the very same numbers.

/// The shortest password a console account may have (NIST SP 800-63B asks for at least 8; we ask
/// for 12 because these accounts control an organization's provisioning).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The longest password we accept. Argon2 would hash anything, but an unbounded input is a cheap
/// way to make the server burn CPU.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// The longest organization or person name we store.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest email address we accept (RFC 5321 limits a path to 256 octets).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Checks a new password against the policy; returns the message to show, if any.
pub fn password_problem(password: &str) -> Option<String> {
    password_shape_problem(password.chars().count(), password.trim().is_empty())
}

/// [`password_problem`] of a password of `chars` characters, `blank` if they are all
/// whitespace: all the policy looks at, which is what the dashboard keeps of a password as it is
/// typed (two small signals rather than a copy of the text).
pub fn password_shape_problem(chars: usize, blank: bool) -> Option<String> {
    if chars < MIN_PASSWORD_CHARS {
        Some(format!("Use at least {MIN_PASSWORD_CHARS} characters for the password ({chars} so far)."))
    } else if chars > MAX_PASSWORD_CHARS {
        Some(format!("Use at most {MAX_PASSWORD_CHARS} characters for the password."))
    } else if blank {
        Some("The password cannot be only spaces.".to_string())
    } else {
        None
    }
}

/// Checks a display name (organization or person); returns the message to show, if any.
pub fn name_problem(what: &str, name: &str) -> Option<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        Some(format!("Enter the {what}."))
    } else if trimmed.chars().count() > MAX_NAME_CHARS {
        Some(format!("The {what} can have at most {MAX_NAME_CHARS} characters."))
    } else if trimmed.chars().any(char::is_control) {
        Some(format!("The {what} cannot contain control characters."))
    } else {
        None
    }
}

/// Normalizes an email address for lookups and uniqueness: trimmed and lower-cased.
///
/// The local part of an address is case-sensitive in theory (RFC 5321), but no real mail provider
/// treats it so, and two accounts that differ only in case are a support nightmare.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Checks an email address's shape; returns the message to show, if any.
///
/// This is deliberately loose (one `@`, a non-empty local part, a dotted domain, no spaces): the
/// only real check of an address is mail that arrives.
pub fn email_problem(email: &str) -> Option<String> {
    let email = email.trim();
    let bad = || Some("Enter a valid email address, like ada@example.com.".to_string());
    if email.is_empty() {
        return Some("Enter your email address.".to_string());
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Some(format!("The email address can have at most {MAX_EMAIL_CHARS} characters."));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad();
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return bad();
    };
    if local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains('@')
    {
        return bad();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_shorter_than_twelve_characters_are_refused() {
        assert!(password_problem("short").is_some());
        assert!(password_problem("elevenchars").is_some());
        assert!(password_problem("twelve chars").is_none());
        // Characters, not bytes: twelve non-ASCII characters are enough.
        assert!(password_problem("éééééééééééé").is_none());
        assert!(password_problem(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_some());
        assert!(password_problem(&" ".repeat(20)).is_some());
    }

    #[test]
    fn email_shapes() {
        for ok in ["ada@example.com", " Ada@Example.COM ", "a.b+c@sub.example.co.uk"] {
            assert_eq!(email_problem(ok), None, "{ok}");
        }
        for bad in
            ["", "ada", "ada@", "@example.com", "ada@example", "a da@example.com", "ada@.com", "ada@example.com."]
        {
            assert!(email_problem(bad).is_some(), "{bad}");
        }
        assert_eq!(normalize_email(" Ada@Example.COM "), "ada@example.com");
    }

    #[test]
    fn names() {
        assert!(name_problem("organization name", "  ").is_some());
        assert!(name_problem("organization name", "Acme").is_none());
        assert!(name_problem("organization name", "Ac\u{7}me").is_some());
        assert!(name_problem("organization name", &"a".repeat(MAX_NAME_CHARS + 1)).is_some());
    }
}
