//! Access policies: (product, optional variant) → tier and days.
//!
//! Which policy an order line takes: the variant's own policy if it has one. The product's policy
//! (variant left empty) covers an order that names no variant, and any variant of a product
//! whose variants have no policies of their own. Once any variant of a product has its own
//! policy, the variants are priced differently, so a variant without one takes nothing from the
//! product: the order fails visibly ("no policy") until the operator adds it and replays.

use chrono::Utc;
use entity::access_policy;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

pub type Policy = access_policy::Model;

pub const DAYS_MAX: i32 = 3650;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("a policy for this product and variant already exists")]
    Exists,
    #[error("no such policy")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbErr),
}

fn sellapp_id(raw: &str, field: &'static str, required: bool) -> Result<String, PolicyError> {
    let v = raw.trim();
    if v.is_empty() && !required {
        return Ok(String::new());
    }
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(PolicyError::Invalid {
            field,
            message: "a Sell.app id: letters, digits, - or _, up to 64".into(),
        });
    }
    Ok(v.to_owned())
}

/// What a policy buys must be a real tier for 1 to `DAYS_MAX` days.
async fn check_terms(db: &impl ConnectionTrait, tier_id: i32, days: i32) -> Result<(), PolicyError> {
    if !(1..=DAYS_MAX).contains(&days) {
        return Err(PolicyError::Invalid {
            field: "days",
            message: format!("between 1 and {DAYS_MAX} days"),
        });
    }
    if entity::tier::Entity::find_by_id(tier_id).one(db).await?.is_none() {
        return Err(PolicyError::Invalid {
            field: "tier",
            message: "choose one of the tiers".into(),
        });
    }
    Ok(())
}

pub async fn create(
    db: &impl ConnectionTrait,
    product_id: &str,
    variant_id: &str,
    tier_id: i32,
    days: i32,
) -> Result<Policy, PolicyError> {
    let product_id = sellapp_id(product_id, "product_id", true)?;
    let variant_id = sellapp_id(variant_id, "variant_id", false)?;
    check_terms(db, tier_id, days).await?;
    let exists = access_policy::Entity::find()
        .filter(access_policy::Column::ProductId.eq(&product_id))
        .filter(access_policy::Column::VariantId.eq(&variant_id))
        .one(db)
        .await?;
    if exists.is_some() {
        return Err(PolicyError::Exists);
    }
    Ok(access_policy::ActiveModel {
        product_id: Set(product_id),
        variant_id: Set(variant_id),
        tier_id: Set(tier_id),
        days: Set(days),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Policy>, DbErr> {
    access_policy::Entity::find()
        .order_by_asc(access_policy::Column::ProductId)
        .order_by_asc(access_policy::Column::VariantId)
        .all(db)
        .await
}

pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<(), PolicyError> {
    let res = access_policy::Entity::delete_by_id(id).exec(db).await?;
    if res.rows_affected == 0 {
        return Err(PolicyError::NotFound);
    }
    Ok(())
}

/// The policy for what was bought (the rule is in this module's header).
pub async fn resolve(
    db: &impl ConnectionTrait,
    product_id: &str,
    variant_id: Option<&str>,
) -> Result<Option<Policy>, DbErr> {
    let policies = access_policy::Entity::find()
        .filter(access_policy::Column::ProductId.eq(product_id))
        .all(db)
        .await?;
    let variant = variant_id.filter(|v| !v.is_empty());
    if let Some(v) = variant
        && let Some(own) = policies.iter().find(|p| p.variant_id == v)
    {
        return Ok(Some(own.clone()));
    }
    let variants_priced = policies.iter().any(|p| !p.variant_id.is_empty());
    if variant.is_some() && variants_priced {
        return Ok(None);
    }
    Ok(policies.into_iter().find(|p| p.variant_id.is_empty()))
}

/// Changes what an existing policy buys (orders already granted keep what they got).
pub async fn update(db: &impl ConnectionTrait, id: i64, tier_id: i32, days: i32) -> Result<Policy, PolicyError> {
    use sea_orm::IntoActiveModel;
    check_terms(db, tier_id, days).await?;
    let policy = access_policy::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(PolicyError::NotFound)?;
    let mut active = policy.into_active_model();
    active.tier_id = Set(tier_id);
    active.days = Set(days);
    Ok(active.update(db).await?)
}
