//! Logins for the review desk: password checks, session and CSRF tokens, cookies, and
//! the failed-login limiter.
//!
//! - Passwords are checked against the Argon2id PHC strings of `[[web.users]]`. An
//!   unknown user name costs the same hash as a wrong password, so timing does not tell
//!   which names exist.
//! - A session is a random 256-bit token in an `HttpOnly; SameSite=Strict` cookie
//!   (`Secure` behind TLS); the store keeps only its SHA-256, with the session's CSRF
//!   token. Every POST carries that CSRF token in a form field.
//! - The login form itself has a CSRF token too, bound to a short-lived cookie (a
//!   double-submit token: there is no session yet).
//! - Failed logins are counted per user name and per client address in a sliding
//!   window; past the limit, logins are refused without checking the password.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::{Argon2, PasswordVerifier};
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::WebUser;

/// The session cookie.
pub const SESSION_COOKIE: &str = "copyhound_session";
/// The login form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "copyhound_login";

/// Failed logins allowed per user name within [`FAILURE_WINDOW`].
pub const MAX_FAILURES_PER_USER: usize = 5;
/// Failed logins allowed per client address within [`FAILURE_WINDOW`] (higher: an
/// office behind one address has several people).
pub const MAX_FAILURES_PER_ADDRESS: usize = 20;
/// How long a failed login counts.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Keys the limiter tracks at most; the oldest are dropped past it, so a flood of
/// invented user names cannot grow memory without bound.
const MAX_LIMITER_KEYS: usize = 10_000;

/// A fixed Argon2id hash of a random password, checked when the user name is unknown.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$6wG5n0Ou0cxr0R1H3qkQ9wUHlP4gM6F9cJ7+oFv9O0E";

/// A new random token: 32 bytes, lower-case hex.
///
/// # Errors
/// When the operating system's random source fails (then no session can be made).
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// The Argon2id hash (PHC string, fresh random salt) of `password`, for `password_hash`
/// of a `[[web.users]]` entry.
///
/// # Errors
/// [`HashError`] when the random salt cannot be drawn or hashing fails.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    use argon2::PasswordHasher;
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// What the store keeps of a session token.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks `password` for `name` among `users`; `Some(name)` on success. Slow on purpose
/// (Argon2): call it off the async threads.
pub fn check_password(users: &[WebUser], name: &str, password: &str) -> Option<String> {
    let user = users.iter().find(|u| u.name == name);
    let hash = user.map_or(DUMMY_HASH, |u| u.password_hash.as_str());
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok();
    match (ok, user) {
        (true, Some(u)) => Some(u.name.clone()),
        _ => None,
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether cookies must be `Secure`: configured behind TLS, or a proxy says the
/// client's connection is HTTPS.
pub fn wants_secure(behind_tls: bool, headers: &HeaderMap) -> bool {
    behind_tls
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value. `max_age` zero clears the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: Duration, secure: bool) -> String {
    let mut c = format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Strict",
        max_age.as_secs()
    );
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// Counts failed logins per key in a sliding window.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: HashMap<String, VecDeque<Instant>>,
}

impl LoginLimiter {
    fn keys(user: &str, addr: Option<IpAddr>) -> [(String, usize); 2] {
        [
            (format!("user:{user}"), MAX_FAILURES_PER_USER),
            (
                format!("addr:{}", addr.map_or("-".into(), |a| a.to_string())),
                MAX_FAILURES_PER_ADDRESS,
            ),
        ]
    }

    /// True when `user` or `addr` has used up its failures.
    pub fn blocked(&mut self, user: &str, addr: Option<IpAddr>, now: Instant) -> bool {
        Self::keys(user, addr).iter().any(|(key, max)| {
            self.failures.get_mut(key).is_some_and(|q| {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > FAILURE_WINDOW)
                {
                    q.pop_front();
                }
                q.len() >= *max
            })
        })
    }

    /// Records a failed login.
    pub fn failed(&mut self, user: &str, addr: Option<IpAddr>, now: Instant) {
        if self.failures.len() >= MAX_LIMITER_KEYS {
            // Drop every key whose failures have all expired; if that frees nothing,
            // start over rather than grow (an attack on names, not on one account).
            self.failures.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) <= FAILURE_WINDOW)
            });
            if self.failures.len() >= MAX_LIMITER_KEYS {
                self.failures.clear();
            }
        }
        for (key, max) in Self::keys(user, addr) {
            let q = self.failures.entry(key).or_default();
            q.push_back(now);
            while q.len() > max {
                q.pop_front();
            }
        }
    }

    /// A successful login clears the user's failures (not the address's).
    pub fn succeeded(&mut self, user: &str) {
        self.failures.remove(&format!("user:{user}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordHasher;

    #[test]
    fn passwords_check_against_argon2id() {
        let hash = Argon2::default()
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        let users = vec![WebUser {
            name: "wang".into(),
            password_hash: hash,
        }];
        assert_eq!(
            check_password(&users, "wang", "correct horse").as_deref(),
            Some("wang")
        );
        assert_eq!(check_password(&users, "wang", "wrong"), None);
        assert_eq!(check_password(&users, "li", "correct horse"), None);
        // The dummy hash parses, so unknown names really cost a hash.
        assert!(argon2::PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn limiter_blocks_then_forgets() {
        let mut l = LoginLimiter::default();
        let t0 = Instant::now();
        let addr: Option<IpAddr> = Some("192.0.2.1".parse().unwrap());
        for _ in 0..MAX_FAILURES_PER_USER {
            assert!(!l.blocked("wang", addr, t0));
            l.failed("wang", addr, t0);
        }
        assert!(l.blocked("wang", addr, t0));
        // Another user from the same address is not yet blocked.
        assert!(!l.blocked("li", addr, t0));
        assert!(!l.blocked("wang", addr, t0 + FAILURE_WINDOW + Duration::from_secs(1)));
        l.failed("li", addr, t0);
        l.succeeded("li");
        assert!(!l.blocked("li", addr, t0));
    }

    #[test]
    fn cookies_and_tokens() {
        let mut h = HeaderMap::new();
        h.append("cookie", "a=1; copyhound_session=abc".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
        assert!(!wants_secure(false, &h));
        h.insert("x-forwarded-proto", "HTTPS".parse().unwrap());
        assert!(wants_secure(false, &h));
        let c = set_cookie("s", "v", "/", Duration::from_secs(60), true);
        assert_eq!(
            c,
            "s=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let t = new_token().unwrap();
        assert_eq!(t.len(), 64);
        assert_ne!(t, new_token().unwrap());
        assert!(same_secret(&t, &t.clone()));
        assert!(!same_secret(&t, "x"));
        assert_eq!(token_digest("x").len(), 64);
    }
}
