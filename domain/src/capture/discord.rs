//! Discord's gateway and REST objects (as Discord sends them: `../shared/reference/`) turned into
//! the ingest wire format, so the bot's capture goes through exactly the validation, merge rules,
//! feed log and mirror queueing a collector's events do.

use entity::signal;
use serde_json::{Value, json};

/// What a message object became.
#[derive(Debug, Clone, PartialEq)]
pub enum Converted {
    /// An ingest event (wire format) ready for `ingest::parse_with`.
    Event(Value),
    /// A partial MESSAGE_UPDATE about a message we never stored: only a REST read can tell
    /// what it says now.
    NeedsFetch,
    /// Not a message the capture keeps (no id or channel: a malformed payload).
    Skip(&'static str),
}

/// Where a message was posted, as the capture knows it: the source channel, and the thread
/// when the message's `channel_id` is a thread under it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub guild_id: u64,
    pub channel_id: u64,
    pub thread_id: Option<u64>,
}

fn id_of(v: &Value, field: &str) -> Option<u64> {
    v.get(field)?.as_str()?.parse().ok()
}

/// A message's author for ingest: the display name Discord shows (global name, else username).
fn author(m: &Value) -> Value {
    let a = &m["author"];
    let name = a["global_name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .or_else(|| a["username"].as_str())
        .unwrap_or("unknown");
    json!({"id": a["id"], "name": name, "avatar": a["avatar"]})
}

/// The users a message mentions, by the name Discord shows (`mentions`: user objects). Role
/// names are not in a message; [`name_roles`] adds them from the guild's roles.
fn mentions(m: &Value) -> Value {
    let users: Vec<Value> = m["mentions"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter(|u| u["id"].is_string())
                .map(|u| json!({"id": u["id"], "name": author(&json!({"author": u}))["name"]}))
                .collect()
        })
        .unwrap_or_default();
    json!({"users": users})
}

/// Names the roles a message mentions (`mention_roles`, ids only) from the guild's roles as the
/// gateway last reported them; a role not known stays unnamed (shown neutrally).
pub fn name_roles(event: &mut Value, m: &Value, roles: &std::collections::HashMap<u64, String>) {
    let Some(ids) = m["mention_roles"].as_array() else {
        return;
    };
    let named: Vec<Value> = ids
        .iter()
        .filter_map(|id| {
            let id = id.as_str()?;
            let name = roles.get(&id.parse().ok()?)?;
            Some(json!({"id": id, "name": name}))
        })
        .collect();
    if !named.is_empty() && event["mentions"].is_object() {
        event["mentions"]["roles"] = Value::Array(named);
    }
}

/// A stored signal's mention names back in the wire shape.
fn stored_mentions(s: &signal::Model) -> Value {
    let stored: Value = serde_json::from_str(&s.mentions_json).unwrap_or(json!({}));
    let list = |kind: &str| -> Vec<Value> {
        stored[kind]
            .as_object()
            .map(|o| o.iter().map(|(id, name)| json!({"id": id, "name": name})).collect())
            .unwrap_or_default()
    };
    json!({"users": list("users"), "roles": list("roles")})
}

/// Discord attachment objects, in the fields ingest reads (it validates URL, host and sizes).
fn attachments(m: &Value) -> Value {
    let list = m["attachments"].as_array().cloned().unwrap_or_default();
    Value::Array(
        list.into_iter()
            .map(|a| {
                json!({
                    "id": a["id"], "filename": a["filename"], "url": a["url"],
                    "content_type": a["content_type"], "size": a["size"],
                    "width": a["width"], "height": a["height"],
                })
            })
            .collect(),
    )
}

/// MESSAGE_CREATE (or a message read over REST in a backfill): a full message object.
pub fn created(m: &Value, place: Place) -> Converted {
    let Some(message_id) = id_of(m, "id") else {
        return Converted::Skip("a message without an id");
    };
    Converted::Event(json!({
        "type": "message_create",
        "guild_id": place.guild_id.to_string(),
        "channel_id": place.channel_id.to_string(),
        "thread_id": place.thread_id.map(|t| t.to_string()),
        "message_id": message_id.to_string(),
        "author": author(m),
        "content": m["content"].as_str().unwrap_or(""),
        "embeds": m["embeds"].as_array().cloned().unwrap_or_default(),
        "attachments": attachments(m),
        "mentions": mentions(m),
        "created_at": m["timestamp"],
        "edited_at": m["edited_timestamp"],
    }))
}

/// MESSAGE_UPDATE: Discord may send only some fields (an embed unfurl sends `id`, `channel_id`
/// and `embeds`). Fields it lacks keep what is stored; with nothing stored and fields missing,
/// the message must be read.
pub fn updated(m: &Value, place: Place, stored: Option<&signal::Model>) -> Converted {
    let Some(message_id) = id_of(m, "id") else {
        return Converted::Skip("an update without an id");
    };
    let has = |f: &str| m.get(f).is_some_and(|v| !v.is_null());
    let full = ["author", "timestamp", "content", "embeds", "attachments"]
        .iter()
        .all(|f| has(f));
    let stored = match stored {
        _ if full => None,
        Some(s) => Some(s),
        None => return Converted::NeedsFetch,
    };
    let from_stored = |field: &str| -> Value {
        let s = stored.expect("a partial update has a stored message");
        match field {
            "content" => s.content.clone().into(),
            "embeds" => serde_json::from_str(&s.embeds_json).unwrap_or(json!([])),
            // Stored attachments are already in the ingest shape.
            "attachments" => serde_json::from_str(&s.attachments_json).unwrap_or(json!([])),
            "author" => {
                json!({"id": s.author_id.map(|a| a.to_string()), "name": s.author_name, "avatar": s.author_avatar})
            }
            "created_at" => s.posted_at.map(|t| json!(t.to_rfc3339())).unwrap_or(Value::Null),
            "edited_at" => s.edited_at.map(|t| json!(t.to_rfc3339())).unwrap_or(Value::Null),
            "mentions" => stored_mentions(s),
            _ => Value::Null,
        }
    };
    let pick = |wire: &str, ours: &str, present: Value| if has(wire) { present } else { from_stored(ours) };
    Converted::Event(json!({
        "type": "message_update",
        "guild_id": place.guild_id.to_string(),
        "channel_id": place.channel_id.to_string(),
        "thread_id": place.thread_id.map(|t| t.to_string()),
        "message_id": message_id.to_string(),
        "author": pick("author", "author", author(m)),
        "content": pick("content", "content", m["content"].clone()),
        "embeds": pick("embeds", "embeds", m["embeds"].clone()),
        "attachments": pick("attachments", "attachments", attachments(m)),
        // Mentions come with the content they name.
        "mentions": pick("content", "mentions", mentions(m)),
        "created_at": pick("timestamp", "created_at", m["timestamp"].clone()),
        "edited_at": pick("edited_timestamp", "edited_at", m["edited_timestamp"].clone()),
    }))
}

/// MESSAGE_DELETE / MESSAGE_DELETE_BULK (`ids`).
pub fn deleted(place: Place, ids: &[u64], at: chrono::DateTime<chrono::Utc>) -> Value {
    let common = json!({
        "guild_id": place.guild_id.to_string(),
        "channel_id": place.channel_id.to_string(),
        "thread_id": place.thread_id.map(|t| t.to_string()),
        "deleted_at": at.to_rfc3339(),
    });
    let mut v = common;
    let o = v.as_object_mut().expect("an object");
    if let [one] = ids {
        o.insert("type".into(), "message_delete".into());
        o.insert("message_id".into(), one.to_string().into());
    } else {
        o.insert("type".into(), "message_bulk_delete".into());
        o.insert("message_ids".into(), ids.iter().map(|i| i.to_string()).collect());
    }
    v
}

/// THREAD_CREATE / THREAD_UPDATE (and the threads in GUILD_CREATE, THREAD_LIST_SYNC): a thread
/// channel object under `parent`.
pub fn thread(t: &Value, guild_id: u64, created: bool) -> Option<Value> {
    let id = id_of(t, "id")?;
    let parent = id_of(t, "parent_id")?;
    Some(json!({
        "type": if created { "thread_create" } else { "thread_update" },
        "guild_id": guild_id.to_string(),
        "channel_id": parent.to_string(),
        "thread_id": id.to_string(),
        "name": t["name"].as_str().unwrap_or(""),
        "archived": t["thread_metadata"]["archived"].as_bool().unwrap_or(false),
        "created_at": t["thread_metadata"]["create_timestamp"],
    }))
}

/// THREAD_DELETE: `id`, `guild_id`, `parent_id`, `type` only.
pub fn thread_deleted(t: &Value, guild_id: u64, at: chrono::DateTime<chrono::Utc>) -> Option<Value> {
    let id = id_of(t, "id")?;
    let parent = id_of(t, "parent_id")?;
    Some(json!({
        "type": "thread_delete",
        "guild_id": guild_id.to_string(),
        "channel_id": parent.to_string(),
        "thread_id": id.to_string(),
        "deleted_at": at.to_rfc3339(),
    }))
}

/// Discord's thread channel types (announcement, public, private thread).
pub const THREAD_TYPES: [i64; 3] = [10, 11, 12];

/// A channel object (GUILD_CREATE's, CHANNEL_CREATE's, a REST read's) as discovery records it;
/// `None` for threads (they are captured through thread events, not listed as channels).
pub fn channel_info(c: &Value) -> Option<crate::discovery::ChannelInfo> {
    use crate::snowflake::Snowflake;
    let kind = c["type"].as_i64()?;
    if THREAD_TYPES.contains(&kind) {
        return None;
    }
    Some(crate::discovery::ChannelInfo {
        id: Snowflake::from_db(id_of(c, "id")? as i64),
        name: c["name"].as_str().unwrap_or("").to_owned(),
        kind: kind as i32,
        parent_id: id_of(c, "parent_id").map(|p| Snowflake::from_db(p as i64)),
        position: c["position"].as_i64().unwrap_or(0) as i32,
    })
}
