//! The tiers the operator sells, in rank order (basic < advanced < pro).

use sea_orm::{DatabaseConnection, DbErr, EntityTrait, QueryOrder};

pub use entity::tier::Model as Tier;

pub async fn list(db: &DatabaseConnection) -> Result<Vec<Tier>, DbErr> {
    entity::tier::Entity::find()
        .order_by_asc(entity::tier::Column::Rank)
        .all(db)
        .await
}

/// This process's copy of the tiers, so a feed socket's handshake need not read them. Tiers change
/// only with a migration; a tier id the copy does not know (another process migrated since) makes
/// it read them again, so a stale copy only ever costs a read, never access.
#[derive(Clone, Debug, Default)]
pub struct TierTable(std::sync::Arc<std::sync::RwLock<std::sync::Arc<Vec<Tier>>>>);

impl TierTable {
    /// The tiers, read again first if `ids` names one this copy lacks (or it was never read).
    pub async fn covering(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        mut ids: impl Iterator<Item = i32>,
    ) -> Result<std::sync::Arc<Vec<Tier>>, DbErr> {
        let known = self.0.read().unwrap_or_else(|p| p.into_inner()).clone();
        if !known.is_empty() && ids.all(|id| known.iter().any(|t| t.id == id)) {
            return Ok(known);
        }
        let fresh = std::sync::Arc::new(crate::entitlements::tiers(db).await?);
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }
}
