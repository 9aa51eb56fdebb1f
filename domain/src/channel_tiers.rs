//! Channels by tier: the lowest tier that opens each channel. The one rule the dashboard, the
//! feed socket (per frame), the mirror and the plans all read.
//!
//! A channel asks for a rank (`Some(rank)`: that tier or higher) or for nothing (`None`: every
//! tier, the default). On a Target channel the tier is the operator's word for who can read that
//! channel in the customers' server, so a mapping never copies signals to readers who could not
//! see them at the source.

use entity::{channel, channel_mapping, tier};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};

use crate::discovery::DiscoveryError;
use crate::snowflake::Snowflake;

/// The rank a channel asks for. A tier id that names no tier closes the channel to everyone:
/// a dangling setting must not open it.
pub fn required(channel: &channel::Model, tiers: &[tier::Model]) -> Option<i32> {
    let id = channel.min_tier_id?;
    Some(tiers.iter().find(|t| t.id == id).map_or(i32::MAX, |t| t.rank))
}

/// Whether a customer at `rank` may read a channel that asks for `required`.
pub fn opens(required: Option<i32>, rank: i32) -> bool {
    required.is_none_or(|r| rank >= r)
}

/// Whether a source's signals may be copied into a target: everyone who reads the target must
/// be allowed to read the source.
pub fn may_mirror(source: Option<i32>, target: Option<i32>) -> bool {
    match (source, target) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(s), Some(t)) => t >= s,
    }
}

/// A present Source channel as customers see it: its name and the tier that opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gate {
    pub name: String,
    pub required: Option<i32>,
    /// The lowest tier that opens it (`None`: every tier).
    pub tier_name: Option<String>,
}

/// The tiers (lowest first) and the present Source channels (in Discord's order) with their gates.
pub async fn gates(db: &impl ConnectionTrait) -> Result<(Vec<tier::Model>, Vec<Gate>), DbErr> {
    let tiers = crate::entitlements::tiers(db).await?;
    let mut sources = channel::Entity::find()
        .filter(channel::Column::IsSource.eq(true))
        .filter(channel::Column::Present.eq(true))
        .all(db)
        .await?;
    sources.sort_by_key(|c| (c.position, c.id));
    let gates = sources
        .iter()
        .map(|c| {
            let required = required(c, &tiers);
            Gate {
                name: c.name.clone(),
                required,
                tier_name: required.map(|r| {
                    tiers
                        .iter()
                        .find(|t| t.rank >= r)
                        .map_or_else(|| "nobody".to_owned(), |t| t.name.clone())
                }),
            }
        })
        .collect();
    Ok((tiers, gates))
}

/// The names of the channels `rank` opens, and of the ones it does not (with the tier that would).
pub fn split(gates: &[Gate], rank: i32) -> (Vec<String>, Vec<(String, String)>) {
    let (open, closed): (Vec<&Gate>, Vec<&Gate>) = gates.iter().partition(|g| opens(g.required, rank));
    (
        open.into_iter().map(|g| g.name.clone()).collect(),
        closed
            .into_iter()
            .map(|g| (g.name.clone(), g.tier_name.clone().unwrap_or_default()))
            .collect(),
    )
}

/// Sets the lowest tier that opens `channel_id` (`None`: every tier). Refused when a mapping of
/// the channel would then copy signals to readers the source does not allow.
pub async fn set_min_tier(
    db: &DatabaseConnection,
    channel_id: Snowflake,
    tier_id: Option<i32>,
) -> Result<channel::Model, DiscoveryError> {
    let txn = crate::database::begin_write(db).await?;
    let tiers = crate::entitlements::tiers(&txn).await?;
    if let Some(id) = tier_id
        && !tiers.iter().any(|t| t.id == id)
    {
        return Err(DiscoveryError::Invalid {
            field: "tier".into(),
            message: "no such tier".into(),
        });
    }
    let Some(ch) = channel::Entity::find_by_id(channel_id.get()).one(&txn).await? else {
        return Err(DiscoveryError::UnknownChannel);
    };
    let mut changed = ch.clone();
    changed.min_tier_id = tier_id;
    let mappings = channel_mapping::Entity::find()
        .filter(
            Condition::any()
                .add(channel_mapping::Column::SourceChannelId.eq(ch.id))
                .add(channel_mapping::Column::TargetChannelId.eq(ch.id)),
        )
        .all(&txn)
        .await?;
    for m in mappings {
        let other_id = if m.source_channel_id == ch.id {
            m.target_channel_id
        } else {
            m.source_channel_id
        };
        let Some(other) = channel::Entity::find_by_id(other_id).one(&txn).await? else {
            continue;
        };
        let (source, target) = if m.source_channel_id == ch.id {
            (&changed, &other)
        } else {
            (&other, &changed)
        };
        if !may_mirror(required(source, &tiers), required(target, &tiers)) {
            return Err(DiscoveryError::NotAllowed(leak_message(source, target, &tiers)));
        }
    }
    let mut active: channel::ActiveModel = ch.into();
    active.min_tier_id = Set(tier_id);
    let model = active.update(&txn).await?;
    txn.commit().await?;
    tracing::info!(channel = %channel_id, ?tier_id, "channel tier changed");
    Ok(model)
}

/// Why `source → target` may not be mirrored, in the operator's words.
pub fn leak_message(source: &channel::Model, target: &channel::Model, tiers: &[tier::Model]) -> String {
    let name = |c: &channel::Model| {
        c.min_tier_id
            .and_then(|id| tiers.iter().find(|t| t.id == id))
            .map_or_else(|| "every tier".to_owned(), |t| format!("{} and up", t.name))
    };
    format!(
        "#{} is open to {} but #{} only to {}: its signals would reach customers who may not read them \
         (raise the target's tier or map another target)",
        target.name,
        name(target),
        source.name,
        name(source)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_without_a_tier_opens_to_every_rank() {
        assert!(opens(None, i32::MIN));
        assert!(opens(Some(2), 2));
        assert!(opens(Some(2), 3));
        assert!(!opens(Some(2), 1));
    }

    #[test]
    fn split_names_what_a_rank_opens_and_what_would_open_the_rest() {
        let gate = |name: &str, required: Option<i32>, tier: Option<&str>| Gate {
            name: name.into(),
            required,
            tier_name: tier.map(Into::into),
        };
        let gates = [gate("general", None, None), gate("pro-calls", Some(3), Some("Pro"))];
        assert_eq!(
            split(&gates, 1),
            (
                vec!["general".to_owned()],
                vec![("pro-calls".to_owned(), "Pro".to_owned())]
            )
        );
        assert_eq!(split(&gates, 3).0, vec!["general".to_owned(), "pro-calls".to_owned()]);
    }

    #[test]
    fn a_target_must_be_at_least_as_closed_as_its_source() {
        assert!(may_mirror(None, None));
        assert!(may_mirror(None, Some(3)));
        assert!(!may_mirror(Some(1), None));
        assert!(!may_mirror(Some(3), Some(2)));
        assert!(may_mirror(Some(2), Some(2)));
        assert!(may_mirror(Some(2), Some(3)));
    }
}
