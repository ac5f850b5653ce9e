//! Basic auth with bcrypt hashes and the global rate limit, as the exporter-toolkit does
//! them: an unknown user costs the same bcrypt comparison as a known one, results are
//! cached per (user, hash, password), and comparisons run one at a time.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Secret;

/// A bcrypt hash of a random password at cost 10, compared against when the user is
/// unknown so that response timing does not reveal which users exist.
const DUMMY_HASH: &str = "$2y$10$3B5yFYgffFqo/uEDK1daOOV9xDVslwnGKhYzJ.ILvHs0j1QtiU7uG";

const CACHE_LIMIT: usize = 1024;

#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, Secret>,
    /// SHA-256(user, hash, password) to the verdict; never the password itself.
    cache: Mutex<HashMap<[u8; 32], bool>>,
    bcrypt_gate: Arc<tokio::sync::Mutex<()>>,
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, Secret>) -> Self {
        Self {
            users,
            cache: Mutex::new(HashMap::new()),
            bcrypt_gate: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Checks an `Authorization` header value.
    pub async fn check(&self, header: Option<&str>) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else {
            return false;
        };
        let (hash, known) = match self.users.get(&user) {
            Some(h) => (h.expose().to_owned(), true),
            None => (DUMMY_HASH.to_owned(), false),
        };
        let key = cache_key(&user, &hash, &password);
        if let Some(v) = self.lock_cache().get(&key) {
            return *v && known;
        }
        let verdict = {
            let _gate = self.bcrypt_gate.lock().await;
            let hash_for_task = hash.clone();
            tokio::task::spawn_blocking(move || {
                bcrypt::verify(password.expose(), &hash_for_task).unwrap_or(false)
            })
            .await
            .unwrap_or(false)
        };
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(key, verdict);
        verdict && known
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], bool>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn cache_key(user: &str, hash: &str, password: &Secret) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [
        user.as_bytes(),
        hash.as_bytes(),
        password.expose().as_bytes(),
    ] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// `Basic base64(user:password)`.
fn parse_basic(header: &str) -> Option<(String, Secret)> {
    let (scheme, value) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(value.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), Secret::new(password)))
}

/// A token bucket shared by all requests (the toolkit's `rate_limit`).
#[derive(Debug)]
pub struct RateLimiter {
    every: Duration,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(every: Duration, burst: u32) -> Self {
        Self {
            every,
            burst: f64::from(burst),
            state: Mutex::new((f64::from(burst), Instant::now())),
        }
    }

    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (tokens, last) = *state;
        let refill = now.saturating_duration_since(last).as_secs_f64() / self.every.as_secs_f64();
        let tokens = (tokens + refill).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            true
        } else {
            *state = (tokens, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header() {
        let (u, p) = parse_basic("Basic YWxpY2U6c2U6Y3JldA==").expect("parse");
        assert_eq!(u, "alice");
        assert_eq!(p.expose(), "se:cret");
        assert!(parse_basic("Bearer abc").is_none());
        assert!(parse_basic("Basic !!!!").is_none());
    }

    #[test]
    fn dummy_hash_is_a_valid_cost_10_hash() {
        let parts: bcrypt::HashParts = DUMMY_HASH.parse().expect("valid");
        assert_eq!(parts.get_cost(), 10);
    }

    #[tokio::test]
    async fn accepts_right_password_rejects_wrong_and_unknown() {
        let hash = bcrypt::hash("pw", 4).expect("hash");
        let auth = BasicAuth::new([("alice".to_owned(), Secret::new(hash))].into());
        let header = |u: &str, p: &str| {
            let raw = format!("{u}:{p}");
            format!("Basic {}", STANDARD.encode(raw.as_bytes()))
        };
        assert!(auth.check(Some(&header("alice", "pw"))).await);
        // Cached verdict, same answer.
        assert!(auth.check(Some(&header("alice", "pw"))).await);
        assert!(!auth.check(Some(&header("alice", "wrong"))).await);
        assert!(!auth.check(Some(&header("mallory", "pw"))).await);
        assert!(!auth.check(None).await);
    }

    #[test]
    fn rate_limiter_refills() {
        let rl = RateLimiter::new(Duration::from_secs(1), 2);
        let t0 = Instant::now();
        assert!(rl.allow_at(t0));
        assert!(rl.allow_at(t0));
        assert!(!rl.allow_at(t0));
        assert!(rl.allow_at(t0 + Duration::from_millis(1001)));
        assert!(!rl.allow_at(t0 + Duration::from_millis(1002)));
    }
}
