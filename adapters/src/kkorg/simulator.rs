//! The sandbox's KK-ORG2 behind KKI: the generated organisation a page at a time, and
//! the changes since a cursor after a reorganisation (a unit ended and its staff moved,
//! a caseworker moved to another centre). It wants the API key (`sandbox`).

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use super::PATH;
use super::generator::Organisation;
use super::model::{Aendringer, Engagement, EnhedSide, MedarbejderSide};
use crate::sandbox::{FaultPlan, Recorder, control_router};

#[derive(Default)]
struct Register {
    org: Organisation,
    /// (sequence, unit ids, employee ids) of each change.
    log: Vec<(u64, BTreeSet<String>, BTreeSet<String>)>,
}

#[derive(Clone)]
pub struct KkOrgSimulator {
    pub recorder: Arc<Recorder>,
    pub faults: Arc<FaultPlan>,
    /// Generated on first use (the sandbox starts in every test).
    register: Arc<std::sync::OnceLock<RwLock<Register>>>,
    staff: Arc<std::sync::atomic::AtomicUsize>,
    /// Bumped by every change, for views built on the register (STS Organisation's).
    version: Arc<std::sync::atomic::AtomicU64>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    side: usize,
    #[serde(default = "page_size")]
    antal: usize,
}

fn page_size() -> usize {
    1000
}

#[derive(Deserialize)]
struct Since {
    #[serde(default)]
    siden: Option<String>,
}

/// The first day of the month after `today`.
fn next_month(today: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let (y, m) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    format!("{y}-{m:02}-01")
}

impl KkOrgSimulator {
    /// The generated organisation with `staff` employees a team (18: Copenhagen's size).
    pub fn new(staff: usize) -> Self {
        KkOrgSimulator {
            recorder: Arc::new(Recorder::new(50)),
            faults: Arc::new(FaultPlan::default()),
            register: Default::default(),
            staff: Arc::new(std::sync::atomic::AtomicUsize::new(staff)),
            version: Default::default(),
        }
    }

    fn register(&self) -> &RwLock<Register> {
        self.register.get_or_init(|| {
            let today = chrono::Utc::now().date_naive();
            RwLock::new(Register {
                org: super::generator::copenhagen(
                    self.staff.load(std::sync::atomic::Ordering::Relaxed),
                    &next_month(today),
                ),
                log: Vec::new(),
            })
        })
    }

    pub fn router(&self) -> Router {
        Router::new()
            .route(&format!("{PATH}/enheder"), get(units))
            .route(&format!("{PATH}/medarbejdere"), get(employees))
            .route(&format!("{PATH}/aendringer"), get(changes))
            .with_state(self.clone())
            .nest(
                "/kki/_sandbox",
                control_router(self.recorder.clone(), self.faults.clone()),
            )
    }

    /// Employees a team, for a smaller organisation (a test's); before its first use.
    pub fn set_staff(&self, staff: usize) {
        self.staff
            .store(staff, std::sync::atomic::Ordering::Relaxed);
    }

    /// Units, employees and engagements.
    pub fn rows(&self) -> usize {
        self.register().read().expect("register").org.rows()
    }

    /// Takes unit `id` out of the register altogether (as if it had never been there).
    pub fn forget_unit(&self, id: &str) {
        self.register()
            .write()
            .expect("register")
            .org
            .enheder
            .retain(|u| u.id != id);
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many changes the register has had.
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `f` on the organisation as it stands (read-locked).
    pub fn with_organisation<R>(&self, f: impl FnOnce(&Organisation) -> R) -> R {
        f(&self.register().read().expect("register").org)
    }

    /// A copy of the organisation as it stands.
    pub fn organisation(&self) -> Organisation {
        self.register().read().expect("register").org.clone()
    }

    /// A reorganisation on `today` (YYYY-MM-DD): unit `ended` ends and its staff move to
    /// `into`; employee `moved` moves to unit `to`. A change the deltas show.
    pub fn reorganise(&self, today: &str, ended: &str, into: &str, moved: &str, to: &str) {
        let mut r = self.register().write().expect("register");
        let mut units = BTreeSet::new();
        let mut people = BTreeSet::new();
        if let Some(u) = r.org.enheder.iter_mut().find(|u| u.id == ended) {
            u.gyldig_til = Some(today.into());
            units.insert(u.id.clone());
        }
        for m in r.org.medarbejdere.iter_mut() {
            let mut changed = false;
            let mut added = Vec::new();
            for e in m.engagementer.iter_mut() {
                let target = if e.enhed == ended {
                    Some(into)
                } else if m.id == moved {
                    Some(to)
                } else {
                    None
                };
                if let Some(target) = target
                    && e.gyldig_til.is_none()
                {
                    e.gyldig_til = Some(today.into());
                    added.push(Engagement {
                        enhed: target.into(),
                        stilling: e.stilling.clone(),
                        gyldig_fra: today.into(),
                        gyldig_til: None,
                    });
                    changed = true;
                }
            }
            m.engagementer.extend(added);
            if changed {
                people.insert(m.id.clone());
            }
        }
        let seq = r.log.len() as u64 + 1;
        r.log.push((seq, units, people));
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts the request and carries out an injected fault; refuses a caller without
    /// the key.
    async fn arrive(&self, headers: &HeaderMap) -> Option<Response> {
        crate::kki::arrive(&self.recorder, &self.faults, headers).await
    }
}

fn page<T: Clone>(all: &[T], p: &Page) -> (Vec<T>, Option<usize>) {
    let size = p.antal.clamp(1, 5000);
    let from = p.side.saturating_mul(size);
    let items: Vec<T> = all.iter().skip(from).take(size).cloned().collect();
    let next = (from + size < all.len()).then_some(p.side + 1);
    (items, next)
}

async fn units(
    State(sim): State<KkOrgSimulator>,
    headers: HeaderMap,
    Query(p): Query<Page>,
) -> Response {
    if let Some(r) = sim.arrive(&headers).await {
        return r;
    }
    let r = sim.register().read().expect("register");
    let (enheder, naeste_side) = page(&r.org.enheder, &p);
    axum::Json(EnhedSide {
        enheder,
        naeste_side,
        cursor: r.log.len().to_string(),
    })
    .into_response()
}

async fn employees(
    State(sim): State<KkOrgSimulator>,
    headers: HeaderMap,
    Query(p): Query<Page>,
) -> Response {
    if let Some(r) = sim.arrive(&headers).await {
        return r;
    }
    let r = sim.register().read().expect("register");
    let (medarbejdere, naeste_side) = page(&r.org.medarbejdere, &p);
    axum::Json(MedarbejderSide {
        medarbejdere,
        naeste_side,
    })
    .into_response()
}

async fn changes(
    State(sim): State<KkOrgSimulator>,
    headers: HeaderMap,
    Query(s): Query<Since>,
) -> Response {
    if let Some(r) = sim.arrive(&headers).await {
        return r;
    }
    let since: u64 = match s.siden.as_deref().map(str::parse).transpose() {
        Ok(v) => v.unwrap_or(0),
        Err(_) => {
            return crate::kki::error(
                StatusCode::BAD_REQUEST,
                "UGYLDIG_FORESPOERGSEL",
                "siden er ikke en cursor fra KKI",
            );
        }
    };
    let r = sim.register().read().expect("register");
    let mut units = BTreeSet::new();
    let mut people = BTreeSet::new();
    for (seq, u, p) in &r.log {
        if *seq > since {
            units.extend(u.iter().cloned());
            people.extend(p.iter().cloned());
        }
    }
    axum::Json(Aendringer {
        enheder: r
            .org
            .enheder
            .iter()
            .filter(|u| units.contains(&u.id))
            .cloned()
            .collect(),
        medarbejdere: r
            .org
            .medarbejdere
            .iter()
            .filter(|m| people.contains(&m.id))
            .cloned()
            .collect(),
        cursor: r.log.len().to_string(),
    })
    .into_response()
}
