//! The way every Serviceplatformen adapter reaches its service: token, CVR, HTTP client.

/// An adapter's way to Serviceplatformen: the STS client of the environment's profile
/// (or why there is none), the municipality's CVR, and one HTTP client for every call
/// (building one loads the trust store). Cheap to clone; the adapters share one.
#[derive(Clone)]
pub struct Access {
    sts: Result<std::sync::Arc<crate::sts::client::StsClient>, String>,
    cvr: String,
    http: reqwest::Client,
}

/// What every Serviceplatformen delivery starts from: the STS client, the endpoint's
/// entity id, and how long to wait for a later status (route option `status_within`,
/// default 48h; for services that confirm later, such as Digital Post).
pub(crate) struct Sending<'a> {
    pub sts: &'a std::sync::Arc<crate::sts::client::StsClient>,
    pub cvr: &'a str,
    pub http: &'a reqwest::Client,
    pub entity: &'a str,
    pub confirm_within: std::time::Duration,
}

impl Access {
    pub fn new(
        sts: Result<std::sync::Arc<crate::sts::client::StsClient>, String>,
        cvr: String,
    ) -> Self {
        let http = sts
            .as_ref()
            .ok()
            .map(|s| s.http_client())
            .unwrap_or_default();
        Access { sts, cvr, http }
    }

    /// The STS client, the CVR and the HTTP client, or why there is no access.
    pub(crate) fn parts(
        &self,
    ) -> Result<
        (
            &std::sync::Arc<crate::sts::client::StsClient>,
            &str,
            &reqwest::Client,
        ),
        String,
    > {
        let sts = self
            .sts
            .as_ref()
            .map_err(|why| format!("no access to Serviceplatformen: {why}"))?;
        Ok((sts, &self.cvr, &self.http))
    }

    /// What the delivery `d` is sent with, or the outcome that ends the attempt.
    pub(crate) fn sending<'a>(
        &'a self,
        d: &'a knudepunkt_engine::Delivery<'_>,
    ) -> Result<Sending<'a>, knudepunkt_engine::DeliveryOutcome> {
        use knudepunkt_engine::DeliveryOutcome;
        let sts = self
            .sts
            .as_ref()
            .map_err(|why| DeliveryOutcome::Transient {
                error: format!("no access to Serviceplatformen: {why}"),
                retry_after: None,
            })?;
        let entity = d
            .endpoint
            .entity_id
            .as_deref()
            .ok_or_else(|| DeliveryOutcome::Permanent {
                error: format!("endpoint {} names no entity_id", d.endpoint.name),
                reply: None,
            })?;
        let confirm_within = d
            .route
            .adapter_options
            .get("status_within")
            .and_then(|s| humantime::parse_duration(s).ok())
            .unwrap_or(std::time::Duration::from_secs(48 * 3600));
        Ok(Sending {
            sts,
            cvr: &self.cvr,
            http: &self.http,
            entity,
            confirm_within,
        })
    }
}
