//! The operator's overview of the business (`/admin`): who has access now, by tier, and per UTC
//! day over a window — revenue from recorded payments with refunds subtracted, first purchases,
//! renewals, expiries and signals captured.
//!
//! Revenue counts a paid grant's amount on the day it was recorded, and subtracts it on the day
//! the storefront took it back (a refund, void or dispute: the grant's revoke reason names
//! Sell.app). An operator's own revoke is not a refund — the money was kept — and is not
//! subtracted. A purchase is a renewal when the address held a grant before it.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{access_change, entitlement_grant, signal, user_account};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};

/// One UTC day's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Day {
    pub day: NaiveDate,
    /// In minor units of [`Overview::currency`].
    pub revenue_minor: i64,
    pub first_purchases: u64,
    pub renewals: u64,
    pub expiries: u64,
    pub signals: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overview {
    /// Customers with access now, per tier in rank order (tiers without any included).
    pub active_by_tier: Vec<(String, u64)>,
    /// The currency most payments were in; `None` before the first recorded amount.
    pub currency: Option<String>,
    /// Net revenue over the window in each other currency (not charted).
    pub other_currencies: Vec<(String, i64)>,
    /// Oldest first, one per day of the window, today last.
    pub days: Vec<Day>,
}

/// The overview as of `now`, over the last `days` UTC days (today included).
pub async fn at(
    db: &impl ConnectionTrait,
    tiers: &crate::tiers::TierTable,
    now: DateTime<Utc>,
    days: u32,
) -> Result<Overview, DbErr> {
    let today = now.date_naive();
    let first = today - Duration::days(i64::from(days.max(1)) - 1);
    let start = first.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let mut by_day: BTreeMap<NaiveDate, Day> = (0..days.max(1))
        .map(|i| {
            let day = first + Duration::days(i64::from(i));
            (day, Day { day, ..Day::default() })
        })
        .collect();
    let mut bump = |at: DateTime<Utc>, f: &mut dyn FnMut(&mut Day)| {
        if let Some(d) = by_day.get_mut(&at.date_naive()) {
            f(d);
        }
    };

    // Revenue, first purchases and renewals: paid grants recorded or taken back in the window.
    let paid = entitlement_grant::Entity::find()
        .filter(entitlement_grant::Column::Cause.eq("payment"))
        .filter(entitlement_grant::Column::Days.gt(0))
        .filter(
            sea_orm::Condition::any()
                .add(entitlement_grant::Column::CreatedAt.gte(start))
                .add(entitlement_grant::Column::RevokedAt.gte(start)),
        )
        .all(db)
        .await?;
    let mut per_currency: HashMap<String, (usize, i64)> = HashMap::new();
    for g in &paid {
        if let (Some(amount), Some(currency)) = (g.amount_minor, &g.currency) {
            let entry = per_currency.entry(currency.clone()).or_default();
            entry.0 += 1;
            if g.created_at >= start {
                entry.1 += amount;
            }
            if refunded(g).is_some_and(|at| at >= start) {
                entry.1 -= amount;
            }
        }
    }
    let currency = per_currency
        .iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then_with(|| b.0.cmp(a.0)))
        .map(|(c, _)| c.clone());
    let earlier = first_grants(db, paid.iter().map(|g| g.email.as_str())).await?;
    for g in &paid {
        if g.amount_minor.is_some() && g.currency == currency {
            let amount = g.amount_minor.unwrap_or(0);
            bump(g.created_at, &mut |d| d.revenue_minor += amount);
            if let Some(at) = refunded(g) {
                bump(at, &mut |d| d.revenue_minor -= amount);
            }
        }
        // One line of an order counts once: its first line is the order's key.
        if g.order_id.as_deref().is_some_and(|k| k.contains(':')) {
            continue;
        }
        let renewal = earlier.get(&g.email).is_some_and(|first| *first < g.created_at);
        bump(g.created_at, &mut |d| {
            if renewal {
                d.renewals += 1
            } else {
                d.first_purchases += 1
            }
        });
    }

    for at in access_change::Entity::find()
        .select_only()
        .column(access_change::Column::At)
        .filter(access_change::Column::Kind.eq("expired"))
        .filter(access_change::Column::At.gte(start))
        .into_tuple::<DateTime<Utc>>()
        .all(db)
        .await?
    {
        bump(at, &mut |d| d.expiries += 1);
    }
    for at in signal::Entity::find()
        .select_only()
        .column(signal::Column::IngestedAt)
        .filter(signal::Column::IngestedAt.gte(start))
        .into_tuple::<DateTime<Utc>>()
        .all(db)
        .await?
    {
        bump(at, &mut |d| d.signals += 1);
    }

    let active: Vec<i64> = user_account::Entity::find()
        .select_only()
        .column(user_account::Column::Id)
        .filter(user_account::Column::AccessEndsAt.gt(now))
        .into_tuple::<i64>()
        .all(db)
        .await?;
    let access = crate::entitlements::access_of_each(db, tiers, &active, now).await?;
    let all_tiers = tiers.covering(db, access.values().map(|a| a.tier.id)).await?;
    let active_by_tier = all_tiers
        .iter()
        .map(|t| {
            let n = access.values().filter(|a| a.tier.id == t.id).count() as u64;
            (t.name.clone(), n)
        })
        .collect();
    let mut other_currencies: Vec<(String, i64)> = per_currency
        .into_iter()
        .filter(|(c, _)| Some(c) != currency.as_ref())
        .map(|(c, (_, net))| (c, net))
        .collect();
    other_currencies.sort();
    Ok(Overview {
        active_by_tier,
        currency,
        other_currencies,
        days: by_day.into_values().collect(),
    })
}

/// When the storefront took a paid grant back, if it did.
fn refunded(g: &entitlement_grant::Model) -> Option<DateTime<Utc>> {
    let by_storefront = g.revoke_reason.as_deref().is_some_and(|r| r.starts_with("Sell.app "));
    g.revoked_at.filter(|_| by_storefront)
}

/// The first grant (of any cause) each of `emails` ever received.
async fn first_grants<'a>(
    db: &impl ConnectionTrait,
    emails: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, DateTime<Utc>>, DbErr> {
    let emails: Vec<String> = emails.map(str::to_owned).collect::<HashSet<_>>().into_iter().collect();
    let mut first: HashMap<String, DateTime<Utc>> = HashMap::new();
    for chunk in emails.chunks(crate::database::IN_LIST) {
        let rows: Vec<(String, DateTime<Utc>)> = entitlement_grant::Entity::find()
            .select_only()
            .column(entitlement_grant::Column::Email)
            .column(entitlement_grant::Column::CreatedAt)
            .filter(entitlement_grant::Column::Email.is_in(chunk.iter().cloned()))
            .filter(entitlement_grant::Column::Days.gt(0))
            .into_tuple()
            .all(db)
            .await?;
        for (email, at) in rows {
            first.entry(email).and_modify(|f| *f = (*f).min(at)).or_insert(at);
        }
    }
    Ok(first)
}
