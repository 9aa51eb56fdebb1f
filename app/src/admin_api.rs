//! Admin server functions. All live under `/rpc/admin/`, and every one starts with `require_admin`;
//! `tests/api/admin.rs` enumerates the registered paths to prove no admin function is left open.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

pub const USERS_PER_PAGE: u64 = 25;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub created_at: String,
    pub last_seen_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListPage {
    pub users: Vec<UserRow>,
    pub total: u64,
    pub page: u64,
    pub pages: u64,
}

#[server(prefix = "/rpc/admin", endpoint = "users")]
pub async fn list_users(query: String, page: u64) -> Result<UserListPage, AppError> {
    let ctx = crate::error::app_context()?;
    crate::auth::require_admin().await?;
    if query.chars().count() > 254 {
        return crate::error::fail(AppError::invalid("q", "search for at most 254 characters"));
    }
    let result = domain::accounts::list(&ctx.db, &query, page, USERS_PER_PAGE)
        .await
        .map_err(|e| crate::error::unavailable("listing users", e))?;
    Ok(UserListPage {
        users: result
            .users
            .into_iter()
            .map(|u| UserRow {
                id: u.pid,
                email: u.email,
                role: u.role.as_str().to_owned(),
                created_at: u.created_at.to_rfc3339(),
                last_seen_at: u.last_seen_at.map(|t| t.to_rfc3339()),
            })
            .collect(),
        total: result.total,
        page,
        pages: result.total.div_ceil(USERS_PER_PAGE).max(1),
    })
}
