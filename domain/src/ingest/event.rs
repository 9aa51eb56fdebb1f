//! The ingest wire format: what a connector posts, one JSON object per event, told apart by
//! `type`. `parse` turns one JSON value into a validated [`Event`] or a [`Rejection`] that names
//! the offending field, so a batch can answer per item.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::attachment::{self, Attachment, RawAttachment};
use super::merge::Snapshot;
use crate::snowflake::Snowflake;

/// Discord's own limit for message content (with Nitro).
pub const CONTENT_MAX_CHARS: usize = 4000;
pub const EMBEDS_MAX: usize = 10;
/// Discord caps all embeds of a message at 6000 characters of text; JSON structure adds some.
pub const EMBEDS_MAX_BYTES: usize = 32 * 1024;
pub const ATTACHMENTS_MAX: usize = 10;
pub const NAME_MAX_CHARS: usize = 100;
pub const BULK_DELETE_MAX: usize = 100;
/// Names listed per kind of mention (users, roles): more than a message of 4,000 characters
/// can hold.
pub const MENTIONS_MAX: usize = 200;
/// How far into the future a reported time (created, edited, deleted) may lie: collectors' clocks
/// drift a little, but a time far ahead would win every later merge (an `edited_at` in 2100 makes
/// every real edit look stale), so it is refused.
pub const FUTURE_SKEW: chrono::Duration = chrono::Duration::minutes(2);

pub const EVENT_TYPES: &[&str] = &[
    "message_create",
    "message_update",
    "message_delete",
    "message_bulk_delete",
    "thread_create",
    "thread_update",
    "thread_delete",
];

/// Where an event happened: a source channel, or a thread under one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub guild_id: Snowflake,
    pub channel_id: Snowflake,
    pub thread_id: Option<Snowflake>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
pub struct Author {
    pub id: Snowflake,
    pub name: String,
    /// Discord's avatar hash (not a URL): links are built from it, never taken from the payload.
    #[serde(default)]
    pub avatar: Option<String>,
}

/// Who a message mentions, by name, so readers see `@alice` where the content says `<@123>`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RawMentions {
    #[serde(default)]
    users: Vec<Mentioned>,
    #[serde(default)]
    roles: Vec<Mentioned>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Mentioned {
    id: Snowflake,
    name: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RawMessage {
    guild_id: Snowflake,
    channel_id: Snowflake,
    #[serde(default)]
    thread_id: Option<Snowflake>,
    message_id: Snowflake,
    author: Author,
    #[serde(default)]
    content: String,
    #[serde(default)]
    embeds: Vec<Value>,
    #[serde(default)]
    attachments: Vec<RawAttachment>,
    #[serde(default)]
    mentions: RawMentions,
    created_at: DateTime<Utc>,
    #[serde(default)]
    edited_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RawDelete {
    guild_id: Snowflake,
    channel_id: Snowflake,
    #[serde(default)]
    thread_id: Option<Snowflake>,
    message_id: Snowflake,
    #[serde(default)]
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RawBulkDelete {
    guild_id: Snowflake,
    channel_id: Snowflake,
    #[serde(default)]
    thread_id: Option<Snowflake>,
    message_ids: Vec<Snowflake>,
    #[serde(default)]
    deleted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RawThread {
    guild_id: Snowflake,
    channel_id: Snowflake,
    thread_id: Snowflake,
    name: String,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RawThreadDelete {
    guild_id: Snowflake,
    channel_id: Snowflake,
    thread_id: Snowflake,
    #[serde(default)]
    deleted_at: Option<DateTime<Utc>>,
}

/// The documented shape of one event: `type` picks one of these bodies. (The parser reads
/// `type` first and then decodes the matching struct, so every error names its field.)
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventSchema {
    MessageCreate(RawMessage),
    MessageUpdate(RawMessage),
    MessageDelete(RawDelete),
    MessageBulkDelete(RawBulkDelete),
    ThreadCreate(RawThread),
    ThreadUpdate(RawThread),
    ThreadDelete(RawThreadDelete),
}

/// A message as reported, validated and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub place: Place,
    pub message_id: Snowflake,
    pub author: Author,
    pub posted_at: DateTime<Utc>,
    pub snapshot: Snapshot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub guild_id: Snowflake,
    pub channel_id: Snowflake,
    pub thread_id: Snowflake,
    pub name: String,
    pub archived: bool,
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    MessageCreated(Message),
    MessageUpdated(Message),
    MessageDeleted {
        place: Place,
        message_ids: Vec<Snowflake>,
        at: DateTime<Utc>,
        /// Why, when no one saw the delete happen (the capture's re-check); never from the wire.
        reason: Option<String>,
    },
    ThreadCreated(Thread),
    ThreadUpdated(Thread),
    ThreadDeleted {
        guild_id: Snowflake,
        channel_id: Snowflake,
        thread_id: Snowflake,
        at: DateTime<Utc>,
    },
}

impl Event {
    pub fn guild_id(&self) -> Snowflake {
        match self {
            Event::MessageCreated(m) | Event::MessageUpdated(m) => m.place.guild_id,
            Event::MessageDeleted { place, .. } => place.guild_id,
            Event::ThreadCreated(t) | Event::ThreadUpdated(t) => t.guild_id,
            Event::ThreadDeleted { guild_id, .. } => *guild_id,
        }
    }
}

/// Why an item was refused, naming the field (`author.id`, `attachments[2].url`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Rejection {
    pub field: String,
    pub message: String,
}

impl Rejection {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Validates one event, with attachments from Discord's CDN. `now` stands in for a delete's time
/// when the connector gives none.
pub fn parse(value: Value, now: DateTime<Utc>) -> Result<Event, Rejection> {
    parse_with(value, now, attachment::discord_cdn())
}

/// Validates one event, with attachments from `sources` (the `ATTACHMENT_SOURCES` setting).
pub fn parse_with(value: Value, now: DateTime<Utc>, sources: &[url::Origin]) -> Result<Event, Rejection> {
    let Some(kind) = value.get("type") else {
        return Err(if value.is_object() {
            Rejection::new("type", format!("missing; expected one of {}", EVENT_TYPES.join(", ")))
        } else {
            Rejection::new("(event)", "must be a JSON object")
        });
    };
    let kind = kind.as_str().unwrap_or_default().to_owned();
    match kind.as_str() {
        "message_create" => Ok(Event::MessageCreated(message(decode(value)?, now, sources)?)),
        "message_update" => Ok(Event::MessageUpdated(message(decode(value)?, now, sources)?)),
        "message_delete" => {
            let raw: RawDelete = decode(value)?;
            Ok(Event::MessageDeleted {
                place: Place {
                    guild_id: raw.guild_id,
                    channel_id: raw.channel_id,
                    thread_id: raw.thread_id,
                },
                message_ids: vec![raw.message_id],
                at: not_future("deleted_at", raw.deleted_at, now)?.unwrap_or(now),
                reason: None,
            })
        }
        "message_bulk_delete" => {
            let raw: RawBulkDelete = decode(value)?;
            if raw.message_ids.is_empty() || raw.message_ids.len() > BULK_DELETE_MAX {
                return Err(Rejection::new(
                    "message_ids",
                    format!("must list 1 to {BULK_DELETE_MAX} message ids"),
                ));
            }
            Ok(Event::MessageDeleted {
                place: Place {
                    guild_id: raw.guild_id,
                    channel_id: raw.channel_id,
                    thread_id: raw.thread_id,
                },
                message_ids: raw.message_ids,
                at: not_future("deleted_at", raw.deleted_at, now)?.unwrap_or(now),
                reason: None,
            })
        }
        "thread_create" | "thread_update" => {
            let raw: RawThread = decode(value)?;
            let thread = Thread {
                guild_id: raw.guild_id,
                channel_id: raw.channel_id,
                thread_id: raw.thread_id,
                name: display_name(&raw.name, "name")?,
                archived: raw.archived,
                created_at: not_future("created_at", raw.created_at, now)?,
            };
            Ok(if kind == "thread_create" {
                Event::ThreadCreated(thread)
            } else {
                Event::ThreadUpdated(thread)
            })
        }
        "thread_delete" => {
            let raw: RawThreadDelete = decode(value)?;
            Ok(Event::ThreadDeleted {
                guild_id: raw.guild_id,
                channel_id: raw.channel_id,
                thread_id: raw.thread_id,
                at: not_future("deleted_at", raw.deleted_at, now)?.unwrap_or(now),
            })
        }
        _ => Err(Rejection::new(
            "type",
            format!("unknown event type; expected one of {}", EVENT_TYPES.join(", ")),
        )),
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Rejection> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        // serde reports a missing field at its parent's path; name the field itself.
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name.to_owned(),
            (".", None) => "(event)".to_owned(),
            (_, Some(name)) => format!("{path}.{name}"),
            (_, None) => path,
        };
        Rejection::new(field, message)
    })
}

/// A reported time, refused when it lies more than [`FUTURE_SKEW`] after `now`.
fn not_future(field: &str, at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, Rejection> {
    match at {
        Some(t) if t > now + FUTURE_SKEW => Err(Rejection::new(
            field,
            format!(
                "{} is in the future (at most {} minutes of clock skew are accepted)",
                t.to_rfc3339(),
                FUTURE_SKEW.num_minutes()
            ),
        )),
        other => Ok(other),
    }
}

fn message(raw: RawMessage, now: DateTime<Utc>, sources: &[url::Origin]) -> Result<Message, Rejection> {
    not_future("created_at", Some(raw.created_at), now)?;
    not_future("edited_at", raw.edited_at, now)?;
    if raw.content.chars().count() > CONTENT_MAX_CHARS {
        return Err(Rejection::new(
            "content",
            format!("longer than {CONTENT_MAX_CHARS} characters"),
        ));
    }
    // Discord never sends one, and PostgreSQL cannot store one in text: without this check the
    // request would fail as a database error and the collector would retry it for ever.
    if raw.content.contains('\0') {
        return Err(Rejection::new("content", "contains a NUL character (U+0000)"));
    }
    if raw.embeds.len() > EMBEDS_MAX {
        return Err(Rejection::new("embeds", format!("more than {EMBEDS_MAX} embeds")));
    }
    if let Some(i) = raw.embeds.iter().position(|e| !e.is_object()) {
        return Err(Rejection::new(format!("embeds[{i}]"), "must be a JSON object"));
    }
    // serde_json's maps are sorted, so equal embeds always serialise to equal text.
    let embeds_json = serde_json::to_string(&raw.embeds).unwrap_or_else(|_| "[]".into());
    if embeds_json.len() > EMBEDS_MAX_BYTES {
        return Err(Rejection::new(
            "embeds",
            format!("larger than {EMBEDS_MAX_BYTES} bytes"),
        ));
    }
    if raw.attachments.len() > ATTACHMENTS_MAX {
        return Err(Rejection::new(
            "attachments",
            format!("more than {ATTACHMENTS_MAX} attachments"),
        ));
    }
    let attachments: Vec<Attachment> = raw
        .attachments
        .iter()
        .enumerate()
        .map(|(i, a)| {
            attachment::normalise_from(a, sources)
                .map_err(|e| Rejection::new(format!("attachments[{i}]"), e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let attachments_json = serde_json::to_string(&attachments).unwrap_or_else(|_| "[]".into());
    let mentions_json = mentions_json(&raw.mentions)?;
    let author = Author {
        id: raw.author.id,
        name: display_name(&raw.author.name, "author.name")?,
        avatar: raw.author.avatar.map(|a| avatar_hash(&a)).transpose()?,
    };
    Ok(Message {
        place: Place {
            guild_id: raw.guild_id,
            channel_id: raw.channel_id,
            thread_id: raw.thread_id,
        },
        message_id: raw.message_id,
        author,
        posted_at: raw.created_at,
        snapshot: Snapshot {
            content: raw.content,
            embeds_json,
            attachments_json,
            mentions_json,
            edited_at: raw.edited_at,
        },
    })
}

/// `{"users":{"id":"name"},"roles":{"id":"name"}}`, sorted (equal mentions, equal text); names
/// cleaned like every other name shown to customers.
fn mentions_json(raw: &RawMentions) -> Result<String, Rejection> {
    let mut out = serde_json::Map::new();
    for (kind, list) in [("users", &raw.users), ("roles", &raw.roles)] {
        if list.len() > MENTIONS_MAX {
            return Err(Rejection::new(
                format!("mentions.{kind}"),
                format!("more than {MENTIONS_MAX} entries"),
            ));
        }
        let names = list
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Ok((
                    m.id.get().to_string(),
                    display_name(&m.name, &format!("mentions.{kind}[{i}].name"))?,
                ))
            })
            .collect::<Result<std::collections::BTreeMap<_, _>, Rejection>>()?;
        if !names.is_empty() {
            out.insert(kind.into(), serde_json::to_value(names).unwrap_or_default());
        }
    }
    Ok(Value::Object(out).to_string())
}

/// Names are shown to customers: no control or bidi characters, bounded length.
fn display_name(raw: &str, field: &str) -> Result<String, Rejection> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !c.is_control() && !attachment::is_bidi_control(*c))
        .collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() {
        return Err(Rejection::new(field, "must not be empty"));
    }
    if cleaned.chars().count() > NAME_MAX_CHARS {
        return Err(Rejection::new(
            field,
            format!("longer than {NAME_MAX_CHARS} characters"),
        ));
    }
    Ok(cleaned.to_owned())
}

fn avatar_hash(raw: &str) -> Result<String, Rejection> {
    let hex = raw.strip_prefix("a_").unwrap_or(raw);
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(raw.to_ascii_lowercase())
    } else {
        Err(Rejection::new(
            "author.avatar",
            "must be a Discord avatar hash (32 hex digits, optional a_ prefix)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-27T12:00:00Z".parse().unwrap()
    }

    pub fn create() -> Value {
        json!({
            "type": "message_create",
            "guild_id": "100", "channel_id": "200", "message_id": "300",
            "author": {"id": "400", "name": "Trader", "avatar": "a_0123456789abcdef0123456789abcdef"},
            "content": "BUY BTC 91000",
            "embeds": [{"title": "TP", "fields": [{"name": "TP1", "value": "92000"}]}],
            "attachments": [{"id": "500", "filename": "chart.png", "url": "https://cdn.discordapp.com/attachments/200/500/chart.png", "content_type": "image/png", "size": 2048, "width": 800, "height": 600}],
            "created_at": "2026-11-27T11:59:59Z"
        })
    }

    fn rejected(mut v: Value, path: &[&str], with: Value) -> Rejection {
        let mut slot = &mut v;
        for p in path {
            slot = match p.parse::<usize>() {
                Ok(i) => &mut slot[i],
                Err(_) => &mut slot[*p],
            };
        }
        *slot = with;
        parse(v, now()).expect_err("should be rejected")
    }

    #[test]
    fn a_full_message_parses() {
        let Event::MessageCreated(m) = parse(create(), now()).unwrap() else {
            panic!("not a create")
        };
        assert_eq!(m.message_id.get(), 300);
        assert_eq!(m.place.thread_id, None);
        assert_eq!(m.author.avatar.as_deref(), Some("a_0123456789abcdef0123456789abcdef"));
        assert!(m.snapshot.attachments_json.contains("chart.png"));
    }

    #[test]
    fn rejections_name_the_field() {
        assert_eq!(rejected(create(), &["author", "id"], json!(400)).field, "author.id");
        assert_eq!(rejected(create(), &["message_id"], json!("x1")).field, "message_id");
        assert_eq!(rejected(create(), &["type"], json!("message_explode")).field, "type");
        assert_eq!(
            rejected(create(), &["created_at"], json!("yesterday")).field,
            "created_at"
        );
        assert_eq!(
            rejected(
                create(),
                &["attachments", "0", "url"],
                json!("http://evil.example/x.png")
            )
            .field,
            "attachments[0]"
        );
        assert_eq!(
            rejected(create(), &["author", "avatar"], json!("https://evil.example/a.png")).field,
            "author.avatar"
        );
        assert_eq!(
            rejected(create(), &["content"], json!("x".repeat(4001))).field,
            "content"
        );
        let nul = rejected(create(), &["content"], json!("BUY\u{0}BTC"));
        assert_eq!(
            (nul.field.as_str(), nul.message.as_str()),
            ("content", "contains a NUL character (U+0000)")
        );
        assert_eq!(rejected(create(), &["embeds", "0"], json!("text")).field, "embeds[0]");
        assert_eq!(parse(json!([1]), now()).unwrap_err().field, "(event)");
        let mut v = create();
        v.as_object_mut().unwrap().remove("author");
        assert_eq!(parse(v, now()).unwrap_err().field, "author");
        let mut v = create();
        v["author"].as_object_mut().unwrap().remove("name");
        assert_eq!(parse(v, now()).unwrap_err().field, "author.name");
    }

    #[test]
    fn mention_names_are_kept_sorted_and_checked() {
        let mut v = create();
        v["mentions"] = json!({"users": [{"id": "9", "name": "zoe"}, {"id": "10", "name": " Al\u{202E}ice "}],
                               "roles": [{"id": "7", "name": "VIP"}]});
        let Event::MessageCreated(m) = parse(v, now()).unwrap() else {
            panic!()
        };
        assert_eq!(
            serde_json::from_str::<Value>(&m.snapshot.mentions_json).unwrap(),
            json!({"users": {"10": "Alice", "9": "zoe"}, "roles": {"7": "VIP"}})
        );
        let Event::MessageCreated(m) = parse(create(), now()).unwrap() else {
            panic!()
        };
        assert_eq!(m.snapshot.mentions_json, "{}", "no mentions: an empty object");

        let mut v = create();
        v["mentions"] = json!({"users": [{"id": "9", "name": ""}]});
        assert_eq!(parse(v, now()).unwrap_err().field, "mentions.users[0].name");
        let mut v = create();
        v["mentions"] = json!({"roles": [{"id": "x", "name": "VIP"}]});
        assert_eq!(parse(v, now()).unwrap_err().field, "mentions.roles[0].id");
        let mut v = create();
        v["mentions"] = json!({"users": vec![json!({"id": "1", "name": "a"}); MENTIONS_MAX + 1]});
        assert_eq!(parse(v, now()).unwrap_err().field, "mentions.users");
    }

    #[test]
    fn every_documented_type_is_parsed() {
        for t in EVENT_TYPES {
            let err = parse(json!({"type": t}), now()).unwrap_err();
            assert_ne!(err.field, "type", "{t} is documented but not parsed");
            let documented: Result<EventSchema, _> = serde_json::from_value(json!({"type": t}));
            assert!(
                !documented.unwrap_err().to_string().contains("unknown variant"),
                "{t} missing from EventSchema"
            );
        }
    }

    #[test]
    fn names_lose_control_and_bidi_characters() {
        let e = parse(
            {
                let mut v = create();
                v["author"]["name"] = json!("Ev\u{202E}il\u{0007} ");
                v
            },
            now(),
        )
        .unwrap();
        let Event::MessageCreated(m) = e else { panic!() };
        assert_eq!(m.author.name, "Evil");
    }

    #[test]
    fn a_delete_without_a_time_takes_the_arrival_time() {
        let e = parse(
            json!({"type": "message_delete", "guild_id": "1", "channel_id": "2", "message_id": "3"}),
            now(),
        )
        .unwrap();
        assert_eq!(
            e,
            Event::MessageDeleted {
                place: Place {
                    guild_id: "1".parse().unwrap(),
                    channel_id: "2".parse().unwrap(),
                    thread_id: None
                },
                message_ids: vec!["3".parse().unwrap()],
                at: now(),
                reason: None,
            }
        );
        let bulk = json!({"type": "message_bulk_delete", "guild_id": "1", "channel_id": "2", "message_ids": []});
        assert_eq!(parse(bulk, now()).unwrap_err().field, "message_ids");
    }

    #[test]
    fn times_far_in_the_future_are_refused_small_skew_is_not() {
        let mut skewed = create();
        skewed["created_at"] = json!("2026-11-27T12:01:30Z");
        assert!(parse(skewed, now()).is_ok(), "90 s of clock skew is accepted");
        for (field, value) in [
            ("created_at", "2026-11-27T12:03:00Z"),
            ("edited_at", "2100-01-01T00:00:00Z"),
        ] {
            let mut v = create();
            v[field] = json!(value);
            let r = parse(v, now()).unwrap_err();
            assert_eq!(r.field, field);
            assert!(r.message.contains("future"), "{r}");
        }
        let delete = json!({"type": "message_delete", "guild_id": "1", "channel_id": "2", "message_id": "3",
            "deleted_at": "2100-01-01T00:00:00Z"});
        assert_eq!(parse(delete, now()).unwrap_err().field, "deleted_at");
        let thread = json!({"type": "thread_create", "guild_id": "1", "channel_id": "2", "thread_id": "3",
            "name": "t", "created_at": "2100-01-01T00:00:00Z"});
        assert_eq!(parse(thread, now()).unwrap_err().field, "created_at");
    }
}
