//! The way in to Beskedfordeler's AMQP broker. The real one is AMQP 0-9-1 over TLS
//! (`amqps://`, port 5671, vhost `BF`): the client presents the municipality's FOCES
//! certificate, and logs in with SASL EXTERNAL whose response is a SAML assertion the STS
//! issued for the service (`http://entityid.kombit.dk/service/bfo_afsend/2` to send,
//! `.../bfo_modtag/2` to take from a dueslag). An endpoint with an `amqps` URL and an
//! `entity_id` is reached that way, with the profile's client certificate, trust store
//! and CVR; any other is plain AMQP with the URL's credentials (the sandbox's vhost).

use lapin::auth::AuthProvider;
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::LongString;

use crate::serviceplatformen::access::Access;
use knudepunkt_engine::redact_url;

/// SASL EXTERNAL with a SAML assertion as the response, as Beskedfordeler takes it.
struct SamlExternal {
    assertion: String,
}

impl AuthProvider for SamlExternal {
    // The mechanism is EXTERNAL (the trait's default).
    fn auth_starter(&self) -> Result<LongString, String> {
        Ok(self.assertion.as_str().into())
    }
}

/// Where a broker is and how Knudepunkt logs in to it.
#[derive(Clone)]
pub struct Broker {
    url: String,
    /// With an `amqps` URL: the service's entity id, and the access that gets its token.
    token: Option<(String, Access)>,
}

impl Broker {
    /// Plain AMQP, the URL's own credentials.
    pub fn plain(url: &str) -> Broker {
        Broker {
            url: url.to_string(),
            token: None,
        }
    }

    /// The broker of a profile `endpoint`: over TLS with a token when its URL is
    /// `amqps` and it names an entity id, else plain.
    pub fn of(endpoint: &knudepunkt_engine::environment::Endpoint, access: &Access) -> Broker {
        match &endpoint.entity_id {
            Some(entity) if endpoint.url.starts_with("amqps://") => Broker {
                url: endpoint.url.clone(),
                token: Some((entity.clone(), access.clone())),
            },
            _ => Broker::plain(&endpoint.url),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL without its password.
    pub fn describe(&self) -> String {
        redact_url(&self.url)
    }

    /// Opens a connection; the error says where (without the password) and why.
    pub async fn connect(&self) -> Result<lapin::Connection, String> {
        let Some((entity, access)) = &self.token else {
            return super::connect(&self.url).await;
        };
        let (sts, cvr, _) = access.parts()?;
        let token = sts
            .saml_token(entity, cvr)
            .await
            .map_err(|e| format!("no token for Beskedfordeler ({entity}): {e}"))?;
        let (chain, key) = sts
            .credential()
            .pkcs8_pem()
            .map_err(|e| format!("the client certificate for Beskedfordeler: {e}"))?;
        // The key lives in this configuration only, which the handshake consumes.
        let tls = OwnedTLSConfig {
            identity: Some(OwnedIdentity::PKCS8 { pem: chain, key }),
            cert_chain: sts.trust_pem(),
        };
        let props = lapin::ConnectionProperties::default().with_auth_provider(SamlExternal {
            assertion: token.assertion.clone(),
        });
        let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
        lapin::Connection::connect_with_config(&self.url, props, tls, runtime)
            .await
            .map_err(|e| format!("AMQP over TLS at {}: {e}", redact_url(&self.url)))
    }
}
