//! The sandbox's PostForespoerg. It checks the Holder-of-key access token and the
//! transaction headers, takes `cprNumber` (ten digits) or `cvrNumber` (eight) for the
//! services `digitalpost` and `nemsms`, and answers `{"result": bool}`. Everyone is
//! registered for Digital Post (as nearly every adult is) unless the sandbox was told
//! otherwise; nobody is registered for NemSMS unless told.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::forespoerg::PATH;
use crate::sandbox::rest_error;
use crate::sts::simulator::StsSimulator;

/// How often it was asked, and what it answered.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ForespoergStats {
    pub asked: u64,
    pub registered: u64,
    pub not_registered: u64,
    pub refused: u64,
}

#[derive(Default)]
struct State_ {
    not_in_digital_post: HashSet<String>,
    in_nemsms: HashSet<String>,
    stats: ForespoergStats,
}

#[derive(Clone)]
pub struct PostForespoergSimulator {
    sts: StsSimulator,
    state: Arc<Mutex<State_>>,
}

impl PostForespoergSimulator {
    pub fn new(sts: StsSimulator) -> Self {
        PostForespoergSimulator {
            sts,
            state: Arc::new(Mutex::new(State_::default())),
        }
    }

    /// A citizen or business exempt from Digital Post (fritaget): PostForespoerg says
    /// "not registered", and letters to them go by paper.
    pub fn not_registered(&self, id: &str) {
        self.lock().not_in_digital_post.insert(id.to_string());
    }

    /// Someone who signed up for NemSMS.
    pub fn registered_for_nemsms(&self, id: &str) {
        self.lock().in_nemsms.insert(id.to_string());
    }

    pub fn stats(&self) -> ForespoergStats {
        self.lock().stats.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State_> {
        self.state.lock().expect("postforespoerg")
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(&format!("{PATH}/{{service}}"), get(ask))
            .route(
                "/digitalpost/_sandbox/postforespoerg",
                get(
                    |State(s): State<PostForespoergSimulator>| async move { axum::Json(s.stats()) },
                ),
            )
            .with_state(self.clone())
    }

    fn refuse(&self, code: &str, message: &str) -> Response {
        self.lock().stats.refused += 1;
        rest_error(StatusCode::BAD_REQUEST, code, message)
    }
}

/// The one identifier asked about, if the query names exactly one of the right shape.
fn identifier(query: &HashMap<String, String>) -> Result<&str, String> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match (query.get("cprNumber"), query.get("cvrNumber")) {
        (Some(cpr), None) if digits(cpr, 10) => Ok(cpr),
        (None, Some(cvr)) if digits(cvr, 8) => Ok(cvr),
        (Some(_), None) => Err("cprNumber skal være 10 cifre".into()),
        (None, Some(_)) => Err("cvrNumber skal være 8 cifre".into()),
        _ => Err("Angiv enten cprNumber eller cvrNumber".into()),
    }
}

async fn ask(
    State(sim): State<PostForespoergSimulator>,
    Path(service): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = sim.sts.refuse_access_token(&headers) {
        sim.lock().stats.refused += 1;
        return refused;
    }
    if headers.get("x-transaktionsid").is_none() || headers.get("x-transaktionstid").is_none() {
        return sim.refuse(
            "HEADER_MISSING",
            "X-TransaktionsId og X-TransaktionsTid skal angives",
        );
    }
    let id = match identifier(&query) {
        Ok(id) => id,
        Err(why) => return sim.refuse("INVALID_PARAMETER", &why),
    };
    let mut s = sim.lock();
    let result = match service.as_str() {
        "digitalpost" => !s.not_in_digital_post.contains(id),
        "nemsms" => s.in_nemsms.contains(id),
        other => {
            s.stats.refused += 1;
            return rest_error(
                StatusCode::NOT_FOUND,
                "UNKNOWN_SERVICE",
                &format!("Ukendt tjeneste {other:?} (digitalpost eller nemsms)"),
            );
        }
    };
    s.stats.asked += 1;
    if result {
        s.stats.registered += 1;
    } else {
        s.stats.not_registered += 1;
    }
    axum::Json(serde_json::json!({ "result": result })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn exactly_one_identifier_of_the_right_shape_is_taken() {
        assert_eq!(
            identifier(&q(&[("cprNumber", "0101901234")])),
            Ok("0101901234")
        );
        assert_eq!(identifier(&q(&[("cvrNumber", "64942212")])), Ok("64942212"));
        assert!(identifier(&q(&[("cprNumber", "010190-1234")])).is_err());
        assert!(identifier(&q(&[("cvrNumber", "123")])).is_err());
        assert!(identifier(&q(&[])).is_err());
        assert!(
            identifier(&q(&[
                ("cprNumber", "0101901234"),
                ("cvrNumber", "64942212")
            ]))
            .is_err()
        );
    }
}
