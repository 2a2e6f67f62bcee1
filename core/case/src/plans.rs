//! Plans (Handleplan / Borgerens Plan): goals and subgoals for a citizen. One plan may
//! span several of the citizen's cases; grants link to its goals.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use crate::audit::{self, AuditAction};
use crate::error::{CaseError, CaseResult};
use crate::store::{CaseCore, Ctx, new_id, now_ms, required};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Plan {
    pub id: String,
    pub title: String,
    pub case_ids: Vec<String>,
    pub goals: Vec<Goal>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Goal {
    pub id: String,
    pub text: String,
    #[schema(no_recursion)]
    pub subgoals: Vec<Goal>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    pub title: String,
    /// At least one case; all must be the same citizen's.
    pub case_ids: Vec<String>,
    #[serde(default)]
    pub goals: Vec<NewGoal>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGoal {
    pub text: String,
    #[serde(default)]
    #[schema(no_recursion)]
    pub subgoals: Vec<NewGoal>,
}

async fn insert_goals(
    conn: &mut AnyConnection,
    plan_id: &str,
    parent: Option<&str>,
    goals: &[NewGoal],
    path: &str,
    now: i64,
) -> CaseResult<Vec<Goal>> {
    let mut out = Vec::with_capacity(goals.len());
    for (i, g) in goals.iter().enumerate() {
        let here = format!("{path}[{i}]");
        required(&format!("{here}.text"), &g.text)?;
        let id = new_id();
        sqlx::query("INSERT INTO goals (id, plan_id, parent_id, text, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(plan_id)
            .bind(parent)
            .bind(g.text.trim())
            .bind(now)
            .execute(&mut *conn)
            .await?;
        let subgoals = Box::pin(insert_goals(
            conn,
            plan_id,
            Some(&id),
            &g.subgoals,
            &format!("{here}.subgoals"),
            now,
        ))
        .await?;
        out.push(Goal {
            id,
            text: g.text.trim().to_string(),
            subgoals,
        });
    }
    Ok(out)
}

/// Writes plan `new` of citizen `cpr` on `conn` (the change's transaction).
pub(crate) async fn insert_plan(
    conn: &mut AnyConnection,
    cpr: &str,
    new: &NewPlan,
    now: i64,
) -> CaseResult<Plan> {
    let id = new_id();
    sqlx::query("INSERT INTO plans (id, cpr, title, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(cpr)
        .bind(new.title.trim())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    for c in &new.case_ids {
        sqlx::query(
            "INSERT INTO plan_cases (plan_id, case_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(c)
        .execute(&mut *conn)
        .await?;
    }
    let goals = insert_goals(conn, &id, None, &new.goals, "goals", now).await?;
    Ok(Plan {
        id,
        title: new.title.trim().to_string(),
        case_ids: new.case_ids.clone(),
        goals,
    })
}

fn goal_tree(all: &[(String, Option<String>, String)], parent: Option<&str>) -> Vec<Goal> {
    all.iter()
        .filter(|(_, p, _)| p.as_deref() == parent)
        .map(|(id, _, text)| Goal {
            id: id.clone(),
            text: text.clone(),
            subgoals: goal_tree(all, Some(id)),
        })
        .collect()
}

impl CaseCore {
    /// Creates a plan across one or more of a citizen's cases, with its goals.
    pub async fn create_plan(&self, ctx: &Ctx<'_>, new: &NewPlan) -> CaseResult<Plan> {
        required("title", &new.title)?;
        let Some(first) = new.case_ids.first() else {
            return Err(CaseError::invalid(
                "case_ids",
                "a plan belongs to at least one case",
            ));
        };
        let (mut tx, case) = self.begin_on_case(ctx, first, "plans").await?;
        for other in &new.case_ids[1..] {
            let c = crate::cases::load(&mut tx, other)
                .await
                .map_err(|_| CaseError::invalid("case_ids", format!("{other:?} is not a case")))?;
            if c.cpr != case.cpr {
                return Err(CaseError::invalid(
                    "case_ids",
                    format!("case {other} is another citizen's"),
                ));
            }
            if !self.may_access(&mut tx, ctx, &c).await? {
                return Err(CaseError::Forbidden(format!(
                    "user {} has no access to case {other}",
                    ctx.actor.user_id
                )));
            }
        }
        let now = now_ms();
        let Plan { id, goals, .. } = insert_plan(&mut tx, case.cpr.expose(), new, now).await?;
        audit::allowed(
            &mut tx,
            ctx,
            AuditAction::Write,
            format!("plan/{id}"),
            case.cpr.expose(),
            now,
        )
        .await?;
        tx.commit().await?;
        let mut case_ids = new.case_ids.clone();
        case_ids.dedup();
        Ok(Plan {
            id,
            title: new.title.trim().to_string(),
            case_ids,
            goals,
        })
    }

    /// The plans on a case, with their goal trees.
    pub async fn plans_of_case(&self, ctx: &Ctx<'_>, case_id: &str) -> CaseResult<Vec<Plan>> {
        // Reading the case checks access and audits the read.
        self.case(ctx, case_id).await?;
        let mut conn = self.journal().pool().acquire().await?;
        let plans = sqlx::query(
            "SELECT p.id, p.title FROM plans p JOIN plan_cases c ON c.plan_id = p.id WHERE c.case_id = $1 ORDER BY p.created_at",
        )
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::new();
        for p in &plans {
            let id: String = p.try_get("id")?;
            let case_ids =
                sqlx::query("SELECT case_id FROM plan_cases WHERE plan_id = $1 ORDER BY case_id")
                    .bind(&id)
                    .fetch_all(&mut *conn)
                    .await?
                    .iter()
                    .map(|r| r.try_get("case_id"))
                    .collect::<Result<Vec<String>, _>>()?;
            let goals = sqlx::query(
                "SELECT id, parent_id, text FROM goals WHERE plan_id = $1 ORDER BY created_at, id",
            )
            .bind(&id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("parent_id")?,
                    r.try_get("text")?,
                ))
            })
            .collect::<CaseResult<Vec<_>>>()?;
            out.push(Plan {
                title: p.try_get("title")?,
                case_ids,
                goals: goal_tree(&goals, None),
                id,
            });
        }
        Ok(out)
    }
}
