//! A signal's text as Discord shows it, from [`crate::discord_markdown`]'s tree. Every piece of
//! the source ends up as escaped text inside a fixed set of elements; the only attributes built
//! from it are an http(s) link target and a Discord CDN emoji address made from a numeric id.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::time::LocalTime;
use crate::discord_markdown::{Block, Inline, parse};

/// What links carry: no referrer, no opener, and no ranking credit for whatever a source links.
const LINK_REL: &str = "noopener noreferrer nofollow";

/// The names a message's mentions show, by id (as the feed view sends them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Names {
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    #[serde(default)]
    pub channels: BTreeMap<String, String>,
}

/// `testid` names the body for tests: "content" for a signal's current text (the default),
/// something else for an earlier version in its history.
#[component]
pub fn MessageBody(
    content: String,
    #[prop(optional)] names: Names,
    #[prop(default = "content")] testid: &'static str,
) -> impl IntoView {
    let blocks = parse(&content);
    view! { <div class="content" data-testid=testid>{blocks_view(blocks, &names)}</div> }
}

/// Markdown inside an embed (description, field values): the same tree, no wrapper.
pub fn markdown(source: &str, names: &Names) -> AnyView {
    blocks_view(parse(source), names)
}

fn blocks_view(blocks: Vec<Block>, names: &Names) -> AnyView {
    blocks
        .into_iter()
        .map(|b| block_view(b, names))
        .collect_view()
        .into_any()
}

fn block_view(block: Block, names: &Names) -> AnyView {
    match block {
        Block::Paragraph(p) => view! { <p>{inlines(p, names)}</p> }.into_any(),
        Block::Heading(1, p) => view! { <h3 class="md-h1">{inlines(p, names)}</h3> }.into_any(),
        Block::Heading(2, p) => view! { <h4 class="md-h2">{inlines(p, names)}</h4> }.into_any(),
        Block::Heading(_, p) => view! { <h5 class="md-h3">{inlines(p, names)}</h5> }.into_any(),
        Block::Subtext(p) => view! { <p class="md-subtext"><small>{inlines(p, names)}</small></p> }.into_any(),
        Block::Quote(inner) => view! { <blockquote>{blocks_view(inner, names)}</blockquote> }.into_any(),
        Block::List {
            ordered: false, items, ..
        } => view! { <ul>{items.into_iter().map(|i| view! { <li>{inlines(i, names)}</li> }).collect_view()}</ul> }.into_any(),
        Block::List {
            ordered: true,
            start,
            items,
        } => view! {
            <ol start=start.to_string()>{items.into_iter().map(|i| view! { <li>{inlines(i, names)}</li> }).collect_view()}</ol>
        }
        .into_any(),
        Block::Code { lang, code } => view! {
            <pre class="md-code" data-lang=lang><code>{code}</code></pre>
        }
        .into_any(),
    }
}

fn inlines(nodes: Vec<Inline>, names: &Names) -> AnyView {
    nodes
        .into_iter()
        .map(|n| inline_view(n, names))
        .collect_view()
        .into_any()
}

/// A mention: the name when the source told us, else neutral (never the raw code).
fn mention(known: Option<&String>, sigil: &str, neutral: &str) -> AnyView {
    let (text, class) = match known {
        Some(name) => (format!("{sigil}{name}"), "mention"),
        None => (neutral.to_owned(), "mention unknown"),
    };
    view! { <span class=class>{text}</span> }.into_any()
}

fn inline_view(node: Inline, names: &Names) -> AnyView {
    match node {
        Inline::Text(t) => t.into_any(),
        Inline::LineBreak => view! { <br /> }.into_any(),
        Inline::Bold(c) => view! { <strong>{inlines(c, names)}</strong> }.into_any(),
        Inline::Italic(c) => view! { <em>{inlines(c, names)}</em> }.into_any(),
        Inline::Underline(c) => view! { <u>{inlines(c, names)}</u> }.into_any(),
        Inline::Strike(c) => view! { <s>{inlines(c, names)}</s> }.into_any(),
        // Hidden until the reader chooses to see it, as on Discord; a button so keyboards reach it.
        Inline::Spoiler(c) => view! {
            <span class="spoiler" tabindex="0" role="button" aria-label="Spoiler: select to reveal">{inlines(c, names)}</span>
        }
        .into_any(),
        Inline::Code(t) => view! { <code>{t}</code> }.into_any(),
        Inline::Link { href, children } => view! {
            <a href=href target="_blank" rel=LINK_REL>{inlines(children, names)}</a>
        }
        .into_any(),
        Inline::User(id) => mention(names.users.get(&id.to_string()), "@", "@unknown-user"),
        Inline::Role(id) => mention(names.roles.get(&id.to_string()), "@", "@unknown-role"),
        Inline::Channel(id) => mention(names.channels.get(&id.to_string()), "#", "#unknown-channel"),
        Inline::Emoji { name, id, animated } => {
            let src = format!(
                "https://cdn.discordapp.com/emojis/{id}.{}?size=48",
                if animated { "gif" } else { "webp" }
            );
            let alt = format!(":{name}:");
            view! { <img class="emoji" src=src alt=alt.clone() title=alt width="22" height="22" /> }.into_any()
        }
        Inline::Timestamp { unix, style } => view! { <LocalTime unix style /> }.into_any(),
    }
}
