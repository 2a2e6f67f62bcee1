//! Who may see what: a job role grants KLE numbers within one org unit, and access is
//! allowed only when both match (as SAPA decides). Confidential cases and documents also
//! need an explicit grant on the case. The organisation decides which roles are in
//! force: a user who has left has none; a role applies while its unit is in force and
//! only to a user in that unit or below it, so a reorganisation moves access at once.

use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::error::{CaseError, CaseResult};
use crate::kle::KleNumber;

/// One job role as it bears on access.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RoleGrant {
    pub role_id: String,
    pub name: String,
    pub org_unit_id: String,
    /// KLE main groups, groups or subjects the role covers.
    pub kle: Vec<String>,
    pub catalogue_editor: bool,
    /// The role may see a protected address (navne- og adressebeskyttelse).
    pub sees_protected_addresses: bool,
    /// The colleague whose role this is, when the actor holds it as their substitute
    /// (stedfortræder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acting_for: Option<String>,
}

/// The authenticated user behind a request, with their job roles.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Actor {
    pub user_id: String,
    pub name: String,
    pub org_unit_id: String,
    pub roles: Vec<RoleGrant>,
}

/// What access is decided on.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    pub org_unit_id: &'a str,
    pub kle: &'a str,
}

impl Actor {
    /// Knudepunkt itself acting (a scheduled job, another system's event): no job
    /// roles, so it sees no case through them; its writes are audited under `user_id`.
    pub fn system(user_id: &str, name: &str) -> Actor {
        Actor {
            user_id: user_id.into(),
            name: name.into(),
            org_unit_id: String::new(),
            roles: Vec::new(),
        }
    }

    /// Loads a user and their roles in force today; `None` if the user is unknown or
    /// has left.
    pub async fn load(conn: &mut AnyConnection, user_id: &str) -> CaseResult<Option<Actor>> {
        let today = chrono::Utc::now().date_naive().to_string();
        let Some(user) = sqlx::query(
            "SELECT id, name, org_unit_id FROM users WHERE id = $1 \
             AND (valid_from IS NULL OR valid_from <= $2) AND (valid_to IS NULL OR valid_to > $2)",
        )
        .bind(user_id)
        .bind(&today)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let mut roles = roles_in_force(conn, user_id, &today).await?;
        // A substitute holds the roles of the colleagues they substitute for, as those
        // colleagues hold them (in their unit, while they are in force).
        let substituted: Vec<String> = sqlx::query(
            "SELECT s.user_id FROM user_substitutes s JOIN users u ON u.id = s.user_id \
             WHERE s.substitute_id = $1 AND (u.valid_to IS NULL OR u.valid_to > $2) ORDER BY s.user_id",
        )
        .bind(user_id)
        .bind(&today)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>("user_id"))
        .collect::<Result<_, _>>()?;
        for colleague in substituted {
            for mut r in roles_in_force(conn, &colleague, &today).await? {
                if !roles.iter().any(|own| own.role_id == r.role_id) {
                    r.acting_for = Some(colleague.clone());
                    roles.push(r);
                }
            }
        }
        Ok(Some(Actor {
            user_id: user.try_get("id")?,
            name: user.try_get("name")?,
            org_unit_id: user.try_get("org_unit_id")?,
            roles,
        }))
    }

    /// Whether one of the actor's roles covers both the org unit and the KLE number.
    pub fn covers(&self, scope: &Scope<'_>) -> bool {
        let Ok(kle) = KleNumber::parse(scope.kle) else {
            return false;
        };
        self.roles.iter().any(|r| {
            r.org_unit_id == scope.org_unit_id && r.kle.iter().any(|g| kle.is_covered_by(g))
        })
    }

    pub fn sees_protected_addresses(&self) -> bool {
        self.roles.iter().any(|r| r.sees_protected_addresses)
    }

    pub fn may_edit_catalogues(&self) -> bool {
        self.roles.iter().any(|r| r.catalogue_editor)
    }

    /// Refuses unless the actor may edit service catalogues.
    pub fn require_catalogue_editor(&self) -> CaseResult<()> {
        if self.may_edit_catalogues() {
            Ok(())
        } else {
            Err(CaseError::Forbidden(format!(
                "user {} has no job role that may edit service catalogues",
                self.user_id
            )))
        }
    }
}

/// The job roles `user_id` holds in force on `today`: roles whose unit is in force and is
/// the user's unit or above it.
async fn roles_in_force(
    conn: &mut AnyConnection,
    user_id: &str,
    today: &str,
) -> CaseResult<Vec<RoleGrant>> {
    let rows = sqlx::query(
        "WITH RECURSIVE up (id, parent_id) AS ( \
           SELECT o.id, o.parent_id FROM org_units o JOIN users s ON s.org_unit_id = o.id WHERE s.id = $1 \
           UNION ALL SELECT o.id, o.parent_id FROM org_units o JOIN up ON o.id = up.parent_id) \
         SELECT r.id, r.name, r.org_unit_id, r.catalogue_editor, r.sees_protected_addresses, k.kle FROM user_roles u \
         JOIN job_roles r ON r.id = u.role_id JOIN org_units ru ON ru.id = r.org_unit_id \
         LEFT JOIN job_role_kle k ON k.role_id = r.id \
         WHERE u.user_id = $1 AND r.org_unit_id IN (SELECT id FROM up) \
         AND (ru.valid_from IS NULL OR ru.valid_from <= $2) AND (ru.valid_to IS NULL OR ru.valid_to > $2) \
         ORDER BY r.id, k.kle",
    )
    .bind(user_id)
    .bind(today)
    .fetch_all(&mut *conn)
    .await?;
    let mut roles: Vec<RoleGrant> = Vec::new();
    for r in rows {
        let id: String = r.try_get("id")?;
        if roles.last().map(|l| l.role_id != id).unwrap_or(true) {
            roles.push(RoleGrant {
                role_id: id,
                name: r.try_get("name")?,
                org_unit_id: r.try_get("org_unit_id")?,
                kle: Vec::new(),
                catalogue_editor: r.try_get::<i64, _>("catalogue_editor")? != 0,
                sees_protected_addresses: r.try_get::<i64, _>("sees_protected_addresses")? != 0,
                acting_for: None,
            });
        }
        if let Some(kle) = r.try_get::<Option<String>, _>("kle")? {
            roles.last_mut().expect("pushed above").kle.push(kle);
        }
    }
    Ok(roles)
}

/// Whether `user_id` holds an explicit grant on a (confidential) case.
pub async fn has_case_grant(
    conn: &mut AnyConnection,
    case_id: &str,
    user_id: &str,
) -> CaseResult<bool> {
    Ok(
        sqlx::query("SELECT 1 AS one FROM case_access_grants WHERE case_id = $1 AND user_id = $2")
            .bind(case_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(unit: &str, kle: &[&str]) -> Actor {
        Actor {
            user_id: "u".into(),
            name: "U".into(),
            org_unit_id: unit.into(),
            roles: vec![RoleGrant {
                role_id: "r".into(),
                name: "R".into(),
                org_unit_id: unit.into(),
                kle: kle.iter().map(|s| s.to_string()).collect(),
                catalogue_editor: false,
                sees_protected_addresses: false,
                acting_for: None,
            }],
        }
    }

    #[test]
    fn both_org_unit_and_kle_must_match() {
        let a = actor("voksen-nord", &["27.36"]);
        let scope = |unit, kle| Scope {
            org_unit_id: unit,
            kle,
        };
        assert!(a.covers(&scope("voksen-nord", "27.36.04")));
        assert!(!a.covers(&scope("voksen-syd", "27.36.04")));
        assert!(!a.covers(&scope("voksen-nord", "27.48.04")));
        assert!(a.require_catalogue_editor().is_err());
    }
}
