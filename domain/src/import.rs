//! Importing an operator's existing customers (`server import customers --file F`): a CSV of
//! e-mail, tier, access end and optionally a Discord id and a Sell.app customer id, one customer
//! subscription per row.
//!
//! The whole file is checked before anything is written: any bad row (reported by line number)
//! refuses the file. A good file is applied in one transaction, so it lands whole or not at all,
//! while the server keeps running (open feeds are woken through the rights-change log like any
//! other grant). Each row becomes one grant with the cause `import`, sized so that — on top of
//! nothing else — access of that tier ends at the given moment; it joins the ledger like any
//! grant (time the customer already has here queues with it). A row whose grant is already there
//! (same e-mail, tier and end) changes nothing, so running a file twice is harmless. A dry run
//! takes the same path and rolls the transaction back: it shows exactly what a real run does.
//!
//! As with payments, paid time reaches an account only once its owner proved the address: a
//! grant for an address without a verified account waits for it (`claim_pending`). A Discord id
//! is linked only to such an account, and only if neither side is linked yet; otherwise the row
//! says why it was left alone. A Sell.app customer id is remembered, so the storefront's later
//! webhooks for that customer find the account.

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{discord_link, entitlement_grant, payment_customer};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};

use crate::snowflake::Snowflake;
use crate::tiers::Tier;

/// The cause imported grants carry, on the grant and on the customer's timeline.
pub const CAUSE: &str = "import";
/// Past this many rows a file is refused: split it (one transaction holds the whole file).
pub const MAX_ROWS: usize = 100_000;

/// One customer subscription from the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based line in the file (the header is line 1).
    pub line: usize,
    pub email: String,
    pub tier: Tier,
    pub access_end: DateTime<Utc>,
    pub discord_id: Option<Snowflake>,
    pub sellapp_customer_id: Option<String>,
}

/// Why a row (or the file) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 0 for the file as a whole.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}", self.message),
            n => write!(f, "line {n}: {}", self.message),
        }
    }
}

fn bad(line: usize, message: impl Into<String>) -> BadRow {
    BadRow {
        line,
        message: message.into(),
    }
}

/// Parses and checks every row against the tiers at `now`; all bad rows, or none.
pub fn parse(text: &str, tiers: &[Tier], now: DateTime<Utc>) -> Result<Vec<Row>, Vec<BadRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.to_lowercase().replace([' ', '-'], "_")).collect(),
        Err(e) => return Err(vec![bad(1, format!("the header row cannot be read: {e}"))]),
    };
    let column = |name: &str| headers.iter().position(|h| h == name);
    let (Some(email_at), Some(tier_at), Some(end_at)) = (column("email"), column("tier"), column("access_end")) else {
        return Err(vec![bad(
            1,
            "the header must name the columns email, tier and access_end (discord_id and sellapp_customer_id are optional)",
        )]);
    };
    let (discord_at, customer_at) = (column("discord_id"), column("sellapp_customer_id"));
    let known = tiers.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>().join(", ");
    let (mut rows, mut bad_rows) = (Vec::new(), Vec::new());
    let mut seen: HashSet<(String, i32)> = HashSet::new();
    for (i, record) in reader.records().enumerate() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(i + 2, |p| p.line() as usize);
                bad_rows.push(bad(line, format!("cannot be read as CSV: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(i + 2, |p| p.line() as usize);
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() + bad_rows.len() >= MAX_ROWS {
            return Err(vec![bad(0, format!("more than {MAX_ROWS} rows: split the file"))]);
        }
        let field = |at: Option<usize>| at.and_then(|a| record.get(a)).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let email = match field(Some(email_at)).map(crate::accounts::normalize_email) {
            Some(Ok(e)) => Some(e),
            Some(Err(_)) => {
                problems.push(format!(
                    "email {:?} is not an address",
                    record.get(email_at).unwrap_or("")
                ));
                None
            }
            None => {
                problems.push("email is empty".to_owned());
                None
            }
        };
        let tier = match field(Some(tier_at)) {
            Some(slug) => match tiers.iter().find(|t| t.slug.eq_ignore_ascii_case(slug)) {
                Some(t) => Some(t.clone()),
                None => {
                    problems.push(format!("tier {slug:?} is not one of {known}"));
                    None
                }
            },
            None => {
                problems.push(format!("tier is empty (one of {known})"));
                None
            }
        };
        let access_end = match field(Some(end_at)).map(|v| (v, access_end(v))) {
            Some((_, Ok(end))) if end <= now => {
                problems.push(format!("access end {} has already passed", end.to_rfc3339()));
                None
            }
            Some((_, Ok(end))) if end - now > Duration::days(i64::from(crate::payments::policies::DAYS_MAX)) => {
                problems.push(format!(
                    "access end {} is more than {} days away",
                    end.to_rfc3339(),
                    crate::payments::policies::DAYS_MAX
                ));
                None
            }
            Some((_, Ok(end))) => Some(end),
            Some((v, Err(()))) => {
                problems.push(format!(
                    "access end {v:?} is not a date (2027-01-31) or a time (2027-01-31T18:00:00Z)"
                ));
                None
            }
            None => {
                problems.push("access end is empty".to_owned());
                None
            }
        };
        let discord_id = match field(discord_at).map(|v| (v, v.parse::<Snowflake>())) {
            Some((_, Ok(id))) => Some(id),
            Some((v, Err(e))) => {
                problems.push(format!("discord id {v:?} {e}"));
                None
            }
            None => None,
        };
        let sellapp_customer_id = field(customer_at).map(str::to_owned);
        if sellapp_customer_id.as_ref().is_some_and(|c| c.len() > 100) {
            problems.push("sellapp customer id is longer than 100 characters".to_owned());
        }
        if let (Some(e), Some(t)) = (&email, &tier)
            && !seen.insert((e.clone(), t.id))
        {
            problems.push(format!(
                "{e} has a {} row already: one row per customer and tier",
                t.slug
            ));
        }
        match (email, tier, access_end) {
            (Some(email), Some(tier), Some(access_end)) if problems.is_empty() => rows.push(Row {
                line,
                email,
                tier,
                access_end,
                discord_id,
                sellapp_customer_id,
            }),
            _ => bad_rows.push(bad(line, problems.join("; "))),
        }
    }
    if !bad_rows.is_empty() {
        return Err(bad_rows);
    }
    if rows.is_empty() {
        return Err(vec![bad(0, "the file has no customer rows")]);
    }
    Ok(rows)
}

/// A date means the end of that day (UTC); a time is taken as given, to the second (so the end
/// read back from either database compares equal on the next run).
fn access_end(v: &str) -> Result<DateTime<Utc>, ()> {
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return DateTime::from_timestamp(t.timestamp(), 0).ok_or(());
    }
    let day = NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| ())?;
    let next = day.succ_opt().ok_or(())?;
    Ok(next.and_hms_opt(0, 0, 0).ok_or(())?.and_utc())
}

/// What the import did (or, in a dry run, would do) for one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub line: usize,
    pub email: String,
    /// A new grant was written (`false`: it was there from an earlier run).
    pub granted: bool,
    /// The grant waits for the address's owner to sign up and verify it.
    pub waiting: bool,
    /// What else happened, or was left alone and why.
    pub notes: Vec<String>,
}

/// The whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub rows: Vec<Outcome>,
    pub dry_run: bool,
}

impl Report {
    pub fn granted(&self) -> usize {
        self.rows.iter().filter(|r| r.granted).count()
    }
}

/// Applies `rows` in one transaction (rolled back when `dry_run`).
pub async fn apply(
    db: &DatabaseConnection,
    roles: Option<&crate::role_sync::RoleGuild>,
    rows: &[Row],
    dry_run: bool,
) -> Result<Report, DbErr> {
    let txn = crate::database::begin_write(db).await?;
    let now = Utc::now();
    let mut report = Report {
        rows: Vec::with_capacity(rows.len()),
        dry_run,
    };
    for row in rows {
        report.rows.push(apply_row(&txn, roles, row, now).await?);
    }
    if dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(report)
}

async fn apply_row(
    db: &impl ConnectionTrait,
    roles: Option<&crate::role_sync::RoleGuild>,
    row: &Row,
    now: DateTime<Utc>,
) -> Result<Outcome, DbErr> {
    // Only a proven owner of the address receives its paid time (as with payments).
    let account = crate::accounts::proven_owner(db, &row.email).await?;
    let mut out = Outcome {
        line: row.line,
        email: row.email.clone(),
        granted: false,
        waiting: account.is_none(),
        notes: Vec::new(),
    };
    let already = entitlement_grant::Entity::find()
        .filter(entitlement_grant::Column::Email.eq(row.email.as_str()))
        .filter(entitlement_grant::Column::Cause.eq(CAUSE))
        .filter(entitlement_grant::Column::TierId.eq(row.tier.id))
        .filter(entitlement_grant::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .any(|g| g.starts_at + Duration::days(i64::from(g.days)) == row.access_end);
    if already {
        out.notes.push(format!(
            "already imported: {} until {}",
            row.tier.slug,
            row.access_end.to_rfc3339()
        ));
    } else {
        // Whole days (the ledger's unit), started far enough back that they end at the given moment.
        let secs = (row.access_end - now).num_seconds().max(1);
        let days = (secs + 86_399) / 86_400;
        let starts_at = row.access_end - Duration::days(days);
        crate::entitlements::grant(
            db,
            crate::entitlements::NewGrant {
                user_id: account,
                email: row.email.clone(),
                order_id: None,
                tier_id: row.tier.id,
                days: days as i32,
                starts_at,
                cause: crate::entitlements::GrantCause::Import,
                reason: format!("imported from line {}", row.line),
                actor: None,
                amount_minor: None,
                currency: None,
            },
        )
        .await?;
        out.granted = true;
    }
    if let Some(discord) = row.discord_id {
        out.notes.push(link_discord(db, account, discord).await?);
    }
    if let Some(customer) = &row.sellapp_customer_id {
        out.notes
            .push(remember_customer(db, account, &row.email, customer).await?);
    }
    if let (Some(guild), Some(user), true) = (roles, account, out.granted || row.discord_id.is_some()) {
        crate::role_sync::sync_user(db, guild, user).await?;
    }
    Ok(out)
}

async fn link_discord(db: &impl ConnectionTrait, account: Option<i64>, discord: Snowflake) -> Result<String, DbErr> {
    let Some(user) = account else {
        return Ok(format!(
            "Discord {discord} not linked: no verified account yet (the customer links it on /account)"
        ));
    };
    let mine = discord_link::Entity::find_by_id(user).one(db).await?;
    let holder = discord_link::Entity::find()
        .filter(discord_link::Column::DiscordUserId.eq(discord.get()))
        .one(db)
        .await?;
    Ok(match (mine, holder) {
        (Some(m), _) if m.discord_user_id == discord.get() => format!("already linked to Discord {discord}"),
        (Some(m), _) => format!(
            "Discord {discord} not linked: the account is linked to {} (left alone)",
            m.discord_user_id
        ),
        (None, Some(_)) => format!("Discord {discord} not linked: another account holds it (left alone)"),
        (None, None) => {
            discord_link::ActiveModel {
                user_id: Set(user),
                discord_user_id: Set(discord.get()),
                username: Set(format!("imported {discord}")),
                linked_at: Set(Utc::now()),
            }
            .insert(db)
            .await?;
            format!("linked to Discord {discord}")
        }
    })
}

async fn remember_customer(
    db: &impl ConnectionTrait,
    account: Option<i64>,
    email: &str,
    customer: &str,
) -> Result<String, DbErr> {
    let known = payment_customer::Entity::find()
        .filter(payment_customer::Column::SellappCustomerId.eq(customer))
        .one(db)
        .await?;
    Ok(match known {
        Some(k) if k.email == email => format!("already knew Sell.app customer {customer}"),
        Some(k) => format!(
            "Sell.app customer {customer} not remembered: it belongs to {} (left alone)",
            k.email
        ),
        None => {
            payment_customer::ActiveModel {
                email: Set(email.to_owned()),
                sellapp_customer_id: Set(Some(customer.to_owned())),
                subscription_id: Set(None),
                user_id: Set(account),
                created_at: Set(Utc::now()),
                ..Default::default()
            }
            .insert(db)
            .await?;
            format!("remembered Sell.app customer {customer}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiers() -> Vec<Tier> {
        ["basic", "advanced", "pro"]
            .iter()
            .enumerate()
            .map(|(i, s)| Tier {
                id: i as i32 + 1,
                slug: (*s).into(),
                name: s.to_uppercase(),
                rank: i as i32 + 1,
                description: String::new(),
                created_at: Utc::now(),
            })
            .collect()
    }

    fn now() -> DateTime<Utc> {
        "2027-01-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_good_file_parses_with_dates_and_times() {
        let rows = parse(
            "Email,Tier,Access End,Discord ID,Sellapp Customer ID\n\
             Ada@Example.com,pro,2027-01-31,123456789012345678,cus_1\n\
             bob@example.com,Basic,2027-02-01T18:00:00Z,,\n",
            &tiers(),
            now(),
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].email, "ada@example.com");
        assert_eq!(rows[0].line, 2);
        assert_eq!(
            rows[0].access_end,
            "2027-02-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(rows[0].discord_id.map(Snowflake::get), Some(123_456_789_012_345_678));
        assert_eq!(rows[0].sellapp_customer_id.as_deref(), Some("cus_1"));
        assert_eq!(rows[1].tier.slug, "basic");
        let precise = parse(
            "email,tier,access_end\nx@example.com,pro,2027-02-01T18:00:00.123456789+01:00\n",
            &tiers(),
            now(),
        )
        .unwrap();
        assert_eq!(
            precise[0].access_end,
            "2027-02-01T17:00:00Z".parse::<DateTime<Utc>>().unwrap(),
            "to the second, in UTC"
        );
        assert_eq!(rows[1].discord_id, None);
    }

    #[test]
    fn every_bad_row_is_named_by_its_line() {
        let errors = parse(
            "email,tier,access_end,discord_id\n\
             ok@example.com,pro,2027-03-01,\n\
             not-an-address,pro,2027-03-01,\n\
             c@example.com,gold,2027-03-01,\n\
             d@example.com,pro,2026-12-01,\n\
             e@example.com,pro,next week,\n\
             f@example.com,pro,2027-03-01,12ab\n\
             ok@example.com,pro,2027-04-01,\n",
            &tiers(),
            now(),
        )
        .unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8], "{errors:?}");
        assert!(
            errors[1]
                .message
                .contains("\"gold\" is not one of basic, advanced, pro")
        );
        assert!(errors[2].message.contains("already passed"));
        assert!(errors[5].message.contains("one row per customer and tier"));
    }

    #[test]
    fn a_file_without_the_columns_or_rows_is_refused() {
        assert_eq!(parse("mail,tier\nx@y.z,pro\n", &tiers(), now()).unwrap_err()[0].line, 1);
        assert_eq!(
            parse("email,tier,access_end\n", &tiers(), now()).unwrap_err()[0].message,
            "the file has no customer rows"
        );
    }
}
