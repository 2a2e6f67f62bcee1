//! Faults a simulator injects on request: "fail the next N" with a given behaviour.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer correctly, but only after a delay.
    Latency { ms: u64 },
    /// Never answer in time (sleeps for `ms`, default 60 s).
    Timeout {
        #[serde(default = "long")]
        ms: u64,
    },
    /// Answer with this HTTP status (e.g. 503, 400), optionally with Retry-After seconds.
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Answer 500 with a SOAP 1.1 Fault (`soap:Server` or `soap:Client`).
    SoapFault {
        #[serde(default = "server")]
        code: String,
        #[serde(default)]
        reason: String,
    },
    /// An STS service's own answer: HTTP 200 with StandardRetur StatusKode `code` (40 the
    /// caller's error, 49 any other) and `text` as the FejlbeskedTekst. Simulators that
    /// are not STS services answer 500 with the text.
    StatusKode {
        code: u16,
        #[serde(default)]
        text: String,
    },
    /// Close the connection without a complete answer.
    Drop,
    /// Start a correct answer and cut it short.
    Truncate,
}

fn long() -> u64 {
    60_000
}

fn server() -> String {
    "Server".into()
}

/// One injected fault, for the next `count` requests.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fault {
    #[serde(flatten)]
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// The queue of faults still to inject.
#[derive(Debug, Default)]
pub struct FaultPlan {
    queue: Mutex<VecDeque<Fault>>,
}

impl FaultPlan {
    pub fn push(&self, fault: Fault) {
        self.queue.lock().expect("fault lock").push_back(fault);
    }

    pub fn clear(&self) {
        self.queue.lock().expect("fault lock").clear();
    }

    pub fn pending(&self) -> Vec<Fault> {
        self.queue
            .lock()
            .expect("fault lock")
            .iter()
            .cloned()
            .collect()
    }

    /// The fault for this request, if any; counts it down.
    pub fn next(&self) -> Option<FaultKind> {
        let mut q = self.queue.lock().expect("fault lock");
        let front = q.front_mut()?;
        let kind = front.kind.clone();
        front.count = front.count.saturating_sub(1);
        if front.count == 0 {
            q.pop_front();
        }
        Some(kind)
    }
}

impl FaultKind {
    pub fn delay(&self) -> Option<Duration> {
        match self {
            FaultKind::Latency { ms } | FaultKind::Timeout { ms } => {
                Some(Duration::from_millis(*ms))
            }
            _ => None,
        }
    }
}

/// Carries out a fault. `None` means: go on and answer normally (after any delay).
pub async fn inject(kind: &FaultKind) -> Option<axum::response::Response> {
    use axum::body::Body;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    if let Some(d) = kind.delay() {
        tokio::time::sleep(d).await;
    }
    match kind {
        FaultKind::Latency { .. } => None,
        FaultKind::Timeout { .. } => Some(StatusCode::GATEWAY_TIMEOUT.into_response()),
        FaultKind::Status {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp =
                (status, format!("sandbox: injected {}\n", status.as_u16())).into_response();
            if let Some(s) = retry_after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, s.to_string().parse().expect("digits"));
            }
            Some(resp)
        }
        FaultKind::SoapFault { code, reason } => {
            let reason = if reason.is_empty() {
                "injected fault"
            } else {
                reason.as_str()
            };
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{reason}</faultstring></soap:Fault></soap:Body></soap:Envelope>"
            );
            Some(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
                    body,
                )
                    .into_response(),
            )
        }
        FaultKind::StatusKode { code, text } => Some(
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("sandbox: injected StatusKode {code}: {text}\n"),
            )
                .into_response(),
        ),
        FaultKind::Drop => {
            // Fails before anything is written: the connection closes with no answer.
            let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "sandbox: injected drop",
            ))];
            Some(Body::from_stream(futures::stream::iter(chunks)).into_response())
        }
        FaultKind::Truncate => {
            // Headers and the start of the body go out; then the connection closes.
            let stream = futures::stream::unfold(0u8, |step| async move {
                match step {
                    0 => Some((Ok(bytes::Bytes::from_static(b"{\"received\":")), 1)),
                    1 => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        Some((
                            Err(std::io::Error::new(
                                std::io::ErrorKind::ConnectionReset,
                                "sandbox: injected truncation",
                            )),
                            2,
                        ))
                    }
                    _ => None,
                }
            });
            let mut resp = Body::from_stream(stream).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_LENGTH, "4096".parse().expect("digits"));
            Some(resp)
        }
    }
}

/// The start of every simulator endpoint: counts the request and carries out the next
/// planned fault, if any. `Some` is the faulty answer to give instead of the real one.
pub async fn arrive(
    recorder: &super::Recorder,
    plan: &FaultPlan,
) -> Option<axum::response::Response> {
    recorder.count_request();
    let fault = plan.next()?;
    // Counted before it is carried out: a caller that gives up cancels the handler.
    if !matches!(fault, FaultKind::Latency { .. }) {
        recorder.count_fault();
    }
    inject(&fault).await
}

/// How an STS service simulator goes on after [`arrive_sts`].
pub enum Arrival {
    /// Answer this instead (an injected fault).
    Answered(axum::response::Response),
    /// Answer with StandardRetur StatusKode `code` and this FejlbeskedTekst.
    StatusKode { code: u16, text: String },
    /// Answer normally.
    Proceed,
}

/// [`arrive`] for STS services: an injected StatusKode is left to the service to put
/// in its own output element.
pub async fn arrive_sts(recorder: &super::Recorder, plan: &FaultPlan) -> Arrival {
    recorder.count_request();
    let Some(fault) = plan.next() else {
        return Arrival::Proceed;
    };
    if !matches!(fault, FaultKind::Latency { .. }) {
        recorder.count_fault();
    }
    match fault {
        FaultKind::StatusKode { code, text } => Arrival::StatusKode {
            code,
            text: if text.is_empty() {
                format!("injected StatusKode {code}")
            } else {
                text
            },
        },
        other => match inject(&other).await {
            Some(resp) => Arrival::Answered(resp),
            None => Arrival::Proceed,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_n_then_pass() {
        let plan = FaultPlan::default();
        let f: Fault = serde_json::from_str(r#"{"kind":"status","status":503,"count":2}"#).unwrap();
        plan.push(f);
        assert!(matches!(
            plan.next(),
            Some(FaultKind::Status { status: 503, .. })
        ));
        assert!(matches!(
            plan.next(),
            Some(FaultKind::Status { status: 503, .. })
        ));
        assert_eq!(plan.next(), None);
    }
}
