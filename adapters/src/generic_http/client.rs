//! Delivery by HTTP POST. The message's idempotency key goes in `Idempotency-Key` and
//! its id in `X-Message-Id`, so the receiver can deduplicate redeliveries.

use std::time::Duration;

use async_trait::async_trait;
use knudepunkt_engine::{Adapter, Delivery, DeliveryOutcome, Reply};

/// Largest reply body kept.
const MAX_REPLY: usize = 4 * 1024 * 1024;

pub struct HttpAdapter {
    client: reqwest::Client,
}

impl Default for HttpAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpAdapter {
    pub fn new() -> Self {
        let client = crate::http::builder()
            .pool_max_idle_per_host(256)
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client without TLS settings always builds");
        HttpAdapter { client }
    }
}

/// Retry-After as seconds or as an HTTP date.
pub fn retry_after(value: Option<&reqwest::header::HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// A receiver's answer read whole: how long it asks us to wait (Retry-After), and the
/// reply with its status, content type and body.
pub async fn read_answer(resp: reqwest::Response) -> (Option<Duration>, knudepunkt_engine::Reply) {
    let status = resp.status().as_u16();
    let wait = retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
    (
        wait,
        knudepunkt_engine::Reply {
            status,
            content_type,
            body,
        },
    )
}

/// Which HTTP answers are worth another attempt.
pub fn classify_status(status: u16) -> Classified {
    match status {
        200..=299 => Classified::Ok,
        408 | 425 | 429 | 500..=599 => Classified::Transient,
        _ => Classified::Permanent,
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Classified {
    Ok,
    Transient,
    Permanent,
}

#[async_trait]
impl Adapter for HttpAdapter {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn deliver(&self, d: &Delivery<'_>) -> DeliveryOutcome {
        let mut req = self
            .client
            .post(&d.endpoint.url)
            .timeout(d.endpoint.timeout)
            .header(reqwest::header::CONTENT_TYPE, d.content_type)
            .header("Idempotency-Key", d.idempotency_key)
            .header("X-Message-Id", d.message_id.to_string())
            .body(d.payload.to_vec());
        if let Some(c) = d.correlation_id {
            req = req.header("X-Correlation-Id", c);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return DeliveryOutcome::Transient {
                    error: format!("POST {}: {}", d.endpoint.name, describe(&e)),
                    retry_after: None,
                };
            }
        };
        let status = resp.status().as_u16();
        let wait = retry_after(resp.headers().get(reqwest::header::RETRY_AFTER));
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // A redirect is not followed (see `http::no_redirects`): where it pointed is named.
        let moved = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .filter(|_| resp.status().is_redirection())
            .map(|l| format!(" (redirected to {})", String::from_utf8_lossy(l.as_bytes())))
            .unwrap_or_default();
        let body = match read_limited(resp).await {
            Ok(b) => b,
            Err(e) => {
                return DeliveryOutcome::Transient {
                    error: format!("POST {}: answer {status} cut short: {e}", d.endpoint.name),
                    retry_after: None,
                };
            }
        };
        let reply = Reply {
            status,
            content_type,
            body,
        };
        let snippet = String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)])
            .trim()
            .to_string();
        match classify_status(status) {
            Classified::Ok => DeliveryOutcome::Delivered {
                reply: Some(reply),
                external_ids: Default::default(),
            },
            Classified::Transient => DeliveryOutcome::Transient {
                error: format!("{} answered {status}: {snippet}", d.endpoint.name),
                retry_after: wait,
            },
            Classified::Permanent => DeliveryOutcome::Permanent {
                error: format!("{} answered {status}{moved}: {snippet}", d.endpoint.name),
                reply: Some(reply),
            },
        }
    }
}

async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if out.len() + chunk.len() > MAX_REPLY {
            return Err(format!("reply larger than {MAX_REPLY} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "broken body"
    } else {
        "request failed"
    };
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert_eq!(classify_status(204), Classified::Ok);
        assert_eq!(classify_status(503), Classified::Transient);
        assert_eq!(classify_status(429), Classified::Transient);
        assert_eq!(classify_status(400), Classified::Permanent);
        assert_eq!(classify_status(404), Classified::Permanent);
    }

    #[test]
    fn retry_after_in_seconds() {
        let v = reqwest::header::HeaderValue::from_static("7");
        assert_eq!(retry_after(Some(&v)), Some(Duration::from_secs(7)));
        let bad = reqwest::header::HeaderValue::from_static("soon");
        assert_eq!(retry_after(Some(&bad)), None);
    }
}
