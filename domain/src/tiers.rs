//! The tiers the operator sells, in rank order (basic < advanced < pro).

use sea_orm::{DatabaseConnection, DbErr, EntityTrait, QueryOrder};

pub use entity::tier::Model as Tier;

pub async fn list(db: &DatabaseConnection) -> Result<Vec<Tier>, DbErr> {
    entity::tier::Entity::find()
        .order_by_asc(entity::tier::Column::Rank)
        .all(db)
        .await
}
