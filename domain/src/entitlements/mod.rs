//! Entitlements: the grant ledger (rows), its arithmetic (`ledger`), and what a customer can
//! access at an instant. Readers compute access from the grants at the moment they ask, so access
//! ends at `access_ends` to the second with nothing waiting for a sweep.

pub mod ledger;

use chrono::{DateTime, Duration, Utc};
use entity::{access_change, entitlement_grant, tier, user_account};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

pub type GrantRow = entitlement_grant::Model;

/// What a customer has at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerAccess {
    pub tier: tier::Model,
    /// When this tier's stretch ends (a lower tier may follow).
    pub tier_ends: DateTime<Utc>,
    /// When access ends altogether.
    pub access_ends: DateTime<Utc>,
}

/// Where a grant came from (`entitlement_grant.cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantCause {
    Payment,
    Admin,
    Import,
}

impl GrantCause {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantCause::Payment => "payment",
            GrantCause::Admin => "admin",
            GrantCause::Import => crate::import::CAUSE,
        }
    }
}

/// Why a customer's timeline changed (`access_change.cause`): a short word of a known set.
/// Who acted (an admin's address, the storefront's event) is written beside it as the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeCause {
    Payment,
    Admin,
    Import,
    Expiry,
    /// Time waiting for an address reached the account that proved it owns the address.
    Signup,
    /// The owner proved the address (verification, reset, sign-in link): what was made before
    /// the proof was undone.
    Proof,
}

impl ChangeCause {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeCause::Payment => "payment",
            ChangeCause::Admin => "admin",
            ChangeCause::Import => crate::import::CAUSE,
            ChangeCause::Expiry => "expiry",
            ChangeCause::Signup => "signup",
            ChangeCause::Proof => "proof",
        }
    }
}

impl From<GrantCause> for ChangeCause {
    fn from(c: GrantCause) -> Self {
        match c {
            GrantCause::Payment => ChangeCause::Payment,
            GrantCause::Admin => ChangeCause::Admin,
            GrantCause::Import => ChangeCause::Import,
        }
    }
}

/// A grant to write: paid (`order_id` set) or given by an admin.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub user_id: Option<i64>,
    pub email: String,
    pub order_id: Option<String>,
    pub tier_id: i32,
    pub days: i32,
    pub starts_at: DateTime<Utc>,
    pub cause: GrantCause,
    pub reason: String,
    /// Who made it, for the timeline: e.g. `Sell.app order.completed #236`, an admin's address.
    pub actor: Option<String>,
    /// What was paid, in minor units of `currency`, when the payment said so.
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
}

/// The grant key of an order's line: the order id for the first line (so one-line orders, and
/// every grant written before orders had lines, keep their key), `<order id>:<n>` after it.
pub fn line_key(order_id: &str, line: usize) -> String {
    if line == 0 {
        order_id.to_owned()
    } else {
        format!("{order_id}:{line}")
    }
}

/// The grant key of an admin's grant form: the form carries a key made when it was shown, so a
/// double submit (or a retried request) grants once — the second hits the unique key.
pub fn admin_request_key(key: &str) -> Result<String, &'static str> {
    let k = key.trim();
    if !(8..=64).contains(&k.len()) || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("reload the page: the form's request key is missing or damaged");
    }
    Ok(format!("admin:{k}"))
}

/// A fresh key for one showing of the admin grant form.
pub fn new_admin_request_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Currencies without minor units (ISO 4217 exponent 0); every other one has two.
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
];

/// `1999` + `EUR` → `19.99 EUR`, for the timeline.
pub fn format_amount(minor: i64, currency: &str) -> String {
    // A net figure may be negative (refunds outweighing sales): the sign goes in front.
    let sign = if minor < 0 { "−" } else { "" };
    let abs = minor.unsigned_abs();
    if ZERO_DECIMAL.contains(&currency) {
        format!("{sign}{abs} {currency}")
    } else {
        format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
    }
}

pub async fn tiers(db: &impl ConnectionTrait) -> Result<Vec<tier::Model>, DbErr> {
    tier::Entity::find().order_by_asc(tier::Column::Rank).all(db).await
}

/// Grants still in force for an account.
pub async fn live_grants(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<GrantRow>, DbErr> {
    live_grants_of(user_id).all(db).await
}

/// The query for an account's grants still in force, oldest start first.
fn live_grants_of(user_id: i64) -> sea_orm::Select<entitlement_grant::Entity> {
    entitlement_grant::Entity::find()
        .filter(entitlement_grant::Column::UserId.eq(user_id))
        .filter(entitlement_grant::Column::RevokedAt.is_null())
        .order_by_asc(entitlement_grant::Column::StartsAt)
}

/// Every grant of an account, revoked ones included, newest first: the order history.
pub async fn all_grants(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<GrantRow>, DbErr> {
    entitlement_grant::Entity::find()
        .filter(entitlement_grant::Column::UserId.eq(user_id))
        .order_by_desc(entitlement_grant::Column::CreatedAt)
        .all(db)
        .await
}

pub fn timeline(grants: &[GrantRow], tiers: &[tier::Model]) -> Vec<ledger::Segment> {
    let ledger: Vec<ledger::Grant> = grants
        .iter()
        .filter(|g| g.revoked_at.is_none())
        .filter_map(|g| {
            let rank = tiers.iter().find(|t| t.id == g.tier_id)?.rank;
            Some(ledger::Grant {
                rank,
                starts: g.starts_at,
                length: Duration::days(i64::from(g.days)),
            })
        })
        .collect();
    ledger::timeline(&ledger)
}

pub async fn access_at(
    db: &impl ConnectionTrait,
    user_id: i64,
    at: DateTime<Utc>,
) -> Result<Option<CustomerAccess>, DbErr> {
    // One round trip (a feed socket's handshake asks this): the grants with their tiers, which
    // are all the tiers the timeline can name.
    let (grants, mut tiers): (Vec<GrantRow>, Vec<tier::Model>) = live_grants_of(user_id)
        .find_also_related(tier::Entity)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(grant, tier)| Some((grant, tier?)))
        .unzip();
    tiers.sort_by_key(|t| t.id);
    tiers.dedup_by_key(|t| t.id);
    Ok(access_from(&grants, &tiers, at))
}

/// The access of each of `users` at `at`, in one read per thousand accounts (an account without
/// access is absent): how a server process checks all its open feeds at once.
pub async fn access_of_each(
    db: &impl ConnectionTrait,
    tiers: &crate::tiers::TierTable,
    users: &[i64],
    at: DateTime<Utc>,
) -> Result<std::collections::HashMap<i64, CustomerAccess>, DbErr> {
    let mut by_user: std::collections::HashMap<i64, Vec<GrantRow>> = std::collections::HashMap::new();
    for chunk in users.chunks(crate::database::IN_LIST) {
        let grants = entitlement_grant::Entity::find()
            .filter(entitlement_grant::Column::UserId.is_in(chunk.iter().copied()))
            .filter(entitlement_grant::Column::RevokedAt.is_null())
            .order_by_asc(entitlement_grant::Column::StartsAt)
            .all(db)
            .await?;
        for g in grants {
            if let Some(user) = g.user_id {
                by_user.entry(user).or_default().push(g);
            }
        }
    }
    let tiers = tiers
        .covering(db, by_user.values().flatten().map(|g| g.tier_id))
        .await?;
    Ok(by_user
        .into_iter()
        .filter_map(|(user, grants)| Some((user, access_from(&grants, &tiers, at)?)))
        .collect())
}

/// The access `grants` give at `at` (revoked grants give none; `tiers` must hold every tier
/// they name — a grant of a tier missing there gives nothing).
pub fn access_from(grants: &[GrantRow], tiers: &[tier::Model], at: DateTime<Utc>) -> Option<CustomerAccess> {
    let segments = timeline(grants, tiers);
    ledger::access_at(&segments, at).and_then(|a| {
        tiers.iter().find(|t| t.rank == a.rank).map(|t| CustomerAccess {
            tier: t.clone(),
            tier_ends: a.tier_ends,
            access_ends: a.access_ends,
        })
    })
}

/// One line of a customer's timeline.
pub struct Change<'a> {
    pub user_id: Option<i64>,
    pub email: &'a str,
    pub grant_id: Option<i64>,
    /// granted, revoked, expired, linked, unlinked.
    pub kind: &'static str,
    pub cause: ChangeCause,
    pub actor: Option<&'a str>,
    pub detail: String,
}

/// Appends to the customer's timeline (and wakes their open sockets, in the same transaction).
async fn record(db: &impl ConnectionTrait, c: Change<'_>) -> Result<(), DbErr> {
    let user_id = c.user_id;
    note(db, c).await?;
    if let Some(user) = user_id {
        refresh_access_end(db, user, Due::IncludingAPassedEnd).await?;
        // Every change on a customer's timeline may change what their open sockets may receive.
        crate::rights::changed(db, user, crate::rights::Kind::Access).await?;
    }
    Ok(())
}

/// A line on the timeline that changes no access (an address proven, a Discord link dropped).
pub async fn note(db: &impl ConnectionTrait, c: Change<'_>) -> Result<(), DbErr> {
    access_change::ActiveModel {
        user_id: Set(c.user_id),
        email: Set(c.email.to_owned()),
        grant_id: Set(c.grant_id),
        kind: Set(c.kind.to_owned()),
        cause: Set(c.cause.as_str().to_owned()),
        actor: Set(c.actor.map(str::to_owned)),
        detail: Set(c.detail),
        at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Which changes the stored next change may point at.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Due {
    /// After a ledger write: an end that has already passed (a backdated grant) is still due,
    /// so the sweep records it.
    IncludingAPassedEnd,
    /// After the sweep handled what was due: only what lies ahead.
    Ahead,
}

/// Stores when `user_id`'s access ends and when it next changes at all, as the ledger says now
/// (the sweep's index).
async fn refresh_access_end(db: &impl ConnectionTrait, user_id: i64, due: Due) -> Result<Option<DateTime<Utc>>, DbErr> {
    let tiers = tiers(db).await?;
    let grants = live_grants(db, user_id).await?;
    let segments = timeline(&grants, &tiers);
    let ends = segments.last().map(|s| s.end);
    let now = Utc::now();
    let next = next_change(&segments, now).or(match due {
        Due::IncludingAPassedEnd => ends.filter(|end| *end <= now),
        Due::Ahead => None,
    });
    user_account::Entity::update_many()
        .col_expr(user_account::Column::AccessEndsAt, Expr::value(ends))
        .col_expr(user_account::Column::AccessChangesAt, Expr::value(next))
        .filter(user_account::Column::Id.eq(user_id))
        .exec(db)
        .await?;
    Ok(ends)
}

/// The first moment after `now` at which the tier changes: a stretch starts or ends.
fn next_change(segments: &[ledger::Segment], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    segments
        .iter()
        .flat_map(|s| [s.start, s.end])
        .filter(|t| *t > now)
        .min()
}

/// Fills in the stored end of access for customers whose grants predate it (once, at start).
pub async fn backfill_access_ends(db: &impl ConnectionTrait) -> Result<usize, DbErr> {
    let users: Vec<i64> = user_account::Entity::find()
        .filter(user_account::Column::AccessEndsAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let mut filled = 0;
    for user in users {
        if refresh_access_end(db, user, Due::IncludingAPassedEnd).await?.is_some() {
            filled += 1;
        }
    }
    Ok(filled)
}

/// Writes a grant. A paid grant is written once per order: a repeat (or a concurrent twin)
/// changes nothing and returns `None`.
pub async fn grant(db: &impl ConnectionTrait, g: NewGrant) -> Result<Option<GrantRow>, DbErr> {
    let row = entitlement_grant::ActiveModel {
        user_id: Set(g.user_id),
        email: Set(g.email.clone()),
        order_id: Set(g.order_id.clone()),
        tier_id: Set(g.tier_id),
        days: Set(g.days),
        starts_at: Set(g.starts_at),
        cause: Set(g.cause.as_str().to_owned()),
        reason: Set(g.reason.clone()),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        revoke_reason: Set(None),
        amount_minor: Set(g.amount_minor),
        currency: Set(g.currency.clone()),
        ..Default::default()
    };
    let stored = if let Some(order) = &g.order_id {
        let inserted = entitlement_grant::Entity::insert(row)
            .on_conflict(
                OnConflict::column(entitlement_grant::Column::OrderId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        entitlement_grant::Entity::find()
            .filter(entitlement_grant::Column::OrderId.eq(order.as_str()))
            .one(db)
            .await?
    } else {
        Some(row.insert(db).await?)
    };
    if let Some(s) = &stored {
        let paid = match (g.amount_minor, &g.currency) {
            (Some(m), Some(c)) => format!(", paid {}", format_amount(m, c)),
            _ => String::new(),
        };
        let detail = format!(
            "{} days of tier {}{paid}{}",
            g.days,
            g.tier_id,
            if g.user_id.is_none() {
                " (waiting for a verified account)"
            } else {
                ""
            }
        );
        record(
            db,
            Change {
                user_id: g.user_id,
                email: &g.email,
                grant_id: Some(s.id),
                kind: "granted",
                cause: g.cause.into(),
                actor: g.actor.as_deref(),
                detail,
            },
        )
        .await?;
    }
    Ok(stored)
}

/// Takes an order's time back (refund, void, dispute): every line of it. If the order was never
/// granted (the refund overtook the payment), a revoked placeholder is written under the order's
/// key so the payment, when it arrives, grants nothing. Returns a grant it took back, if any.
/// `actor` names the storefront event that took it back.
pub async fn revoke_order(
    db: &impl ConnectionTrait,
    order_id: &str,
    email: &str,
    reason: &str,
    actor: &str,
) -> Result<Option<GrantRow>, DbErr> {
    let now = Utc::now();
    let lines = order_lines(db, order_id).await?;
    if lines.is_empty() {
        let placeholder = entitlement_grant::ActiveModel {
            user_id: Set(None),
            email: Set(email.to_owned()),
            order_id: Set(Some(order_id.to_owned())),
            tier_id: Set(0),
            days: Set(0),
            starts_at: Set(now),
            cause: Set(GrantCause::Payment.as_str().into()),
            reason: Set(String::new()),
            created_at: Set(now),
            revoked_at: Set(Some(now)),
            revoke_reason: Set(Some(reason.to_owned())),
            ..Default::default()
        };
        entitlement_grant::Entity::insert(placeholder)
            .on_conflict(
                OnConflict::column(entitlement_grant::Column::OrderId)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
        return Ok(None);
    }
    let mut taken = None;
    for g in lines.into_iter().filter(|g| g.revoked_at.is_none()) {
        if take_back(db, &g, reason, now).await? {
            record_revoked(db, &g, ChangeCause::Payment, actor, reason).await?;
            taken = Some(g);
        }
    }
    Ok(taken)
}

/// Marks a grant revoked unless someone did already: of processes racing to take the same
/// grant back (a refund webhook and reconciliation, say), exactly one gets `true` and records it.
async fn take_back(db: &impl ConnectionTrait, g: &GrantRow, reason: &str, now: DateTime<Utc>) -> Result<bool, DbErr> {
    Ok(entitlement_grant::Entity::update_many()
        .col_expr(entitlement_grant::Column::RevokedAt, Expr::value(Some(now)))
        .col_expr(
            entitlement_grant::Column::RevokeReason,
            Expr::value(Some(reason.to_owned())),
        )
        .filter(entitlement_grant::Column::Id.eq(g.id))
        .filter(entitlement_grant::Column::RevokedAt.is_null())
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Every grant written for an order, one per line (see [`line_key`]).
pub async fn order_lines(db: &impl ConnectionTrait, order_id: &str) -> Result<Vec<GrantRow>, DbErr> {
    use sea_orm::Condition;
    let prefix = format!("{order_id}:");
    // LIKE may over-match (an order id holding `_` or `%`); the exact prefix is checked below.
    let rows = entitlement_grant::Entity::find()
        .filter(
            Condition::any()
                .add(entitlement_grant::Column::OrderId.eq(order_id))
                .add(entitlement_grant::Column::OrderId.like(format!("{prefix}%"))),
        )
        .order_by_asc(entitlement_grant::Column::Id)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|g| {
            g.order_id
                .as_deref()
                .is_some_and(|k| k == order_id || k.strip_prefix(&prefix).is_some_and(|n| n.parse::<usize>().is_ok()))
        })
        .collect())
}

/// Revokes one grant by id (an admin's action, `actor` naming them); returns it if it was in force.
pub async fn revoke_grant(
    db: &impl ConnectionTrait,
    grant_id: i64,
    reason: &str,
    actor: &str,
) -> Result<Option<GrantRow>, DbErr> {
    let Some(g) = entitlement_grant::Entity::find_by_id(grant_id).one(db).await? else {
        return Ok(None);
    };
    if g.revoked_at.is_some() || !take_back(db, &g, reason, Utc::now()).await? {
        return Ok(None);
    }
    record_revoked(db, &g, ChangeCause::Admin, actor, reason).await?;
    Ok(Some(g))
}

/// The timeline line of a grant taken back.
async fn record_revoked(
    db: &impl ConnectionTrait,
    g: &GrantRow,
    cause: ChangeCause,
    actor: &str,
    reason: &str,
) -> Result<(), DbErr> {
    record(
        db,
        Change {
            user_id: g.user_id,
            email: &g.email,
            grant_id: Some(g.id),
            kind: "revoked",
            cause,
            actor: Some(actor),
            detail: reason.to_owned(),
        },
    )
    .await
}

/// Paid before sign-up: grants waiting for this email now belong to the new account.
pub async fn claim_pending(db: &impl ConnectionTrait, user_id: i64, email: &str) -> Result<u64, DbErr> {
    let pending = entitlement_grant::Entity::find()
        .filter(entitlement_grant::Column::UserId.is_null())
        .filter(entitlement_grant::Column::Email.eq(email))
        .all(db)
        .await?;
    let mut claimed = 0;
    for g in pending {
        let live = g.revoked_at.is_none();
        let mut active: entitlement_grant::ActiveModel = g.clone().into();
        active.user_id = Set(Some(user_id));
        // Time bought before the account existed starts when the account does; imported time
        // keeps the end the old system gave it (that subscription ran on its own clock).
        let imported = g.cause == GrantCause::Import.as_str();
        if live && !imported {
            active.starts_at = Set(Utc::now().max(g.starts_at));
        }
        active.update(db).await?;
        if live {
            record(
                db,
                Change {
                    user_id: Some(user_id),
                    email,
                    grant_id: Some(g.id),
                    kind: "linked",
                    cause: ChangeCause::Signup,
                    actor: None,
                    detail: if imported {
                        "given before the address was verified; ends as imported".into()
                    } else {
                        "given before the address was verified; applied now".into()
                    },
                },
            )
            .await?;
            claimed += 1;
        }
    }
    Ok(claimed)
}

pub async fn history(db: &impl ConnectionTrait, email: &str) -> Result<Vec<access_change::Model>, DbErr> {
    access_change::Entity::find()
        .filter(access_change::Column::Email.eq(email))
        .order_by_desc(access_change::Column::Id)
        .all(db)
        .await
}

pub const REASON_MAX_CHARS: usize = 500;

/// An operator's reason, required for every manual change.
pub fn check_reason(reason: &str) -> Result<String, &'static str> {
    let r = reason.trim();
    if r.is_empty() {
        return Err("say why: the reason is shown on the customer's timeline");
    }
    if r.chars().count() > REASON_MAX_CHARS {
        return Err("at most 500 characters");
    }
    Ok(r.to_owned())
}

/// Customers known by email: accounts and payers (with or without an account), filtered by a
/// substring of the email, at most `limit`.
pub async fn search_customers(db: &impl ConnectionTrait, query: &str, limit: usize) -> Result<Vec<String>, DbErr> {
    use entity::{payment_customer, user_account};
    use sea_orm::QuerySelect;
    let q = query.trim().to_lowercase();
    // Each side is bounded in SQL: the page never loads every customer to keep the first few.
    let mut emails: Vec<String> = user_account::Entity::find()
        .filter(user_account::Column::Email.contains(&q))
        .order_by_asc(user_account::Column::Email)
        .limit(limit as u64)
        .all(db)
        .await?
        .into_iter()
        .map(|a| a.email)
        .collect();
    emails.extend(
        payment_customer::Entity::find()
            .filter(payment_customer::Column::Email.contains(&q))
            .order_by_asc(payment_customer::Column::Email)
            .limit(limit as u64)
            .all(db)
            .await?
            .into_iter()
            .map(|c| c.email),
    );
    emails.sort();
    emails.dedup();
    emails.truncate(limit);
    Ok(emails)
}

/// Every grant for an email (account or still pending), newest first.
pub async fn grants_for_email(db: &impl ConnectionTrait, email: &str) -> Result<Vec<GrantRow>, DbErr> {
    entitlement_grant::Entity::find()
        .filter(entitlement_grant::Column::Email.eq(email))
        .order_by_desc(entitlement_grant::Column::Id)
        .all(db)
        .await
}

/// A manual change and the role jobs it implies, in one transaction (J1). Like paid time, it
/// reaches only the account that proved it owns the address: until then it waits under the
/// address (the admin sees it waiting) and is claimed when the address is verified.
pub async fn admin_grant(
    db: &sea_orm::DatabaseConnection,
    roles: Option<&crate::role_sync::RoleGuild>,
    mut g: NewGrant,
) -> Result<Option<GrantRow>, DbErr> {
    let txn = crate::database::begin_write(db).await?;
    g.user_id = crate::accounts::proven_owner(&txn, &g.email).await?;
    let granted = grant(&txn, g).await?;
    if let (Some(map), Some(user)) = (roles, granted.as_ref().and_then(|g| g.user_id)) {
        crate::role_sync::sync_user(&txn, map, user).await?;
    }
    txn.commit().await?;
    Ok(granted)
}

pub async fn admin_revoke(
    db: &sea_orm::DatabaseConnection,
    roles: Option<&crate::role_sync::RoleGuild>,
    grant_id: i64,
    reason: &str,
    actor: &str,
) -> Result<Option<GrantRow>, DbErr> {
    let txn = crate::database::begin_write(db).await?;
    let revoked = revoke_grant(&txn, grant_id, reason, actor).await?;
    if let (Some(map), Some(user)) = (roles, revoked.as_ref().and_then(|g| g.user_id)) {
        crate::role_sync::sync_user(&txn, map, user).await?;
    }
    txn.commit().await?;
    Ok(revoked)
}

/// Records every access change that has come due by `now` — the end of a customer's access,
/// and a tier stepping down or up as one grant ends and another resumes — and queues the role
/// changes they imply. Customers are found by the stored moment of their next change (an
/// indexed query, not a scan of every grant) with no lower bound, so changes that came due while
/// every process was down are recorded on start however long the outage was. An end is recorded
/// once (a unique index makes racing processes collide; the loser changes nothing). Returns how
/// many customers' changes it handled.
pub async fn record_expiries(
    db: &sea_orm::DatabaseConnection,
    roles: Option<&crate::role_sync::RoleGuild>,
    now: DateTime<Utc>,
) -> Result<usize, DbErr> {
    use sea_orm::SqlErr;
    let due = user_account::Entity::find()
        .filter(user_account::Column::AccessChangesAt.lte(now))
        .all(db)
        .await?;
    let mut recorded = 0;
    for user in due {
        let txn = crate::database::begin_write(db).await?;
        // Claim this due change: a process racing us on the same customer updates nothing.
        let claimed = user_account::Entity::update_many()
            .col_expr(
                user_account::Column::AccessChangesAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(user_account::Column::Id.eq(user.id))
            .filter(user_account::Column::AccessChangesAt.eq(user.access_changes_at))
            .exec(&txn)
            .await?;
        if claimed.rows_affected != 1 {
            txn.rollback().await?;
            continue;
        }
        let ended = user.access_ends_at.filter(|end| *end <= now);
        if let Some(end) = ended {
            let entry = record(
                &txn,
                Change {
                    user_id: Some(user.id),
                    email: &user.email,
                    grant_id: None,
                    kind: "expired",
                    cause: ChangeCause::Expiry,
                    actor: None,
                    detail: format!("access ended at {}", end.to_rfc3339()),
                },
            )
            .await;
            match entry {
                Ok(()) => {}
                // Recorded before (by another process, or before a restart): only the index moves on.
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    txn.rollback().await?;
                    refresh_access_end(db, user.id, Due::Ahead).await?;
                    continue;
                }
                Err(e) => return Err(e),
            }
            refresh_access_end(&txn, user.id, Due::Ahead).await?;
        } else {
            // A tier changed while access goes on: the sockets and roles follow the ledger.
            refresh_access_end(&txn, user.id, Due::Ahead).await?;
            crate::rights::changed(&txn, user.id, crate::rights::Kind::Access).await?;
        }
        if let Some(map) = roles {
            crate::role_sync::sync_user(&txn, map, user.id).await?;
        }
        txn.commit().await?;
        recorded += 1;
    }
    Ok(recorded)
}
