//! A signal's text as Discord shows it, from [`crate::discord_markdown`]'s tree. Every piece of
//! the source ends up as escaped text inside a fixed set of elements; the only attributes built
//! from it are an http(s) link target and a Discord CDN emoji address made from a numeric id.

use leptos::prelude::*;

use crate::discord_markdown::{Block, Inline, parse};

/// What links carry: no referrer, no opener, and no ranking credit for whatever a source links.
const LINK_REL: &str = "noopener noreferrer nofollow";

#[component]
pub fn MessageBody(content: String) -> impl IntoView {
    let blocks = parse(&content);
    view! { <div class="content" data-testid="content">{blocks_view(blocks)}</div> }
}

fn blocks_view(blocks: Vec<Block>) -> AnyView {
    blocks.into_iter().map(block_view).collect_view().into_any()
}

fn block_view(block: Block) -> AnyView {
    match block {
        Block::Paragraph(p) => view! { <p>{inlines(p)}</p> }.into_any(),
        Block::Heading(1, p) => view! { <h3 class="md-h1">{inlines(p)}</h3> }.into_any(),
        Block::Heading(2, p) => view! { <h4 class="md-h2">{inlines(p)}</h4> }.into_any(),
        Block::Heading(_, p) => view! { <h5 class="md-h3">{inlines(p)}</h5> }.into_any(),
        Block::Subtext(p) => view! { <p class="md-subtext"><small>{inlines(p)}</small></p> }.into_any(),
        Block::Quote(inner) => view! { <blockquote>{blocks_view(inner)}</blockquote> }.into_any(),
        Block::List {
            ordered: false, items, ..
        } => view! { <ul>{items.into_iter().map(|i| view! { <li>{inlines(i)}</li> }).collect_view()}</ul> }.into_any(),
        Block::List {
            ordered: true,
            start,
            items,
        } => view! {
            <ol start=start.to_string()>{items.into_iter().map(|i| view! { <li>{inlines(i)}</li> }).collect_view()}</ol>
        }
        .into_any(),
        Block::Code { lang, code } => view! {
            <pre class="md-code" data-lang=lang><code>{code}</code></pre>
        }
        .into_any(),
    }
}

fn inlines(nodes: Vec<Inline>) -> AnyView {
    nodes.into_iter().map(inline_view).collect_view().into_any()
}

fn inline_view(node: Inline) -> AnyView {
    match node {
        Inline::Text(t) => t.into_any(),
        Inline::LineBreak => view! { <br /> }.into_any(),
        Inline::Bold(c) => view! { <strong>{inlines(c)}</strong> }.into_any(),
        Inline::Italic(c) => view! { <em>{inlines(c)}</em> }.into_any(),
        Inline::Underline(c) => view! { <u>{inlines(c)}</u> }.into_any(),
        Inline::Strike(c) => view! { <s>{inlines(c)}</s> }.into_any(),
        // Hidden until the reader chooses to see it, as on Discord; a button so keyboards reach it.
        Inline::Spoiler(c) => view! {
            <span class="spoiler" tabindex="0" role="button" aria-label="Spoiler: select to reveal">{inlines(c)}</span>
        }
        .into_any(),
        Inline::Code(t) => view! { <code>{t}</code> }.into_any(),
        Inline::Link { href, children } => view! {
            <a href=href target="_blank" rel=LINK_REL>{inlines(children)}</a>
        }
        .into_any(),
        // Names are not known here yet: unknown ids are shown neutrally, never as raw codes.
        Inline::User(_) => view! { <span class="mention">"@user"</span> }.into_any(),
        Inline::Role(_) => view! { <span class="mention">"@role"</span> }.into_any(),
        Inline::Channel(_) => view! { <span class="mention">"#channel"</span> }.into_any(),
        Inline::Emoji { name, id, animated } => {
            let src = format!(
                "https://cdn.discordapp.com/emojis/{id}.{}?size=48",
                if animated { "gif" } else { "webp" }
            );
            let alt = format!(":{name}:");
            view! { <img class="emoji" src=src alt=alt.clone() title=alt width="22" height="22" /> }.into_any()
        }
        Inline::Timestamp { unix, style } => {
            view! { <time datetime=iso(unix) data-style=style.to_string()>{discord_time(unix, style)}</time> }
                .into_any()
        }
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`): the browser build has no date library, and server and browser must
/// render the same text.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn iso(unix: i64) -> String {
    let (y, mo, d) = civil(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// A `<t:…>` timestamp in Discord's format for its style letter, in UTC. `R` (relative) shows
/// the full time here: "3 hours ago" would differ between the server's render and hydration.
pub fn discord_time(unix: i64, style: char) -> String {
    let days = unix.div_euclid(86_400);
    let (y, mo, d) = civil(days);
    let s = unix.rem_euclid(86_400);
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let month = MONTHS[(mo - 1) as usize];
    let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
    match style {
        't' => format!("{h:02}:{m:02} UTC"),
        'T' => format!("{h:02}:{m:02}:{sec:02} UTC"),
        'd' => format!("{y:04}-{mo:02}-{d:02}"),
        'D' => format!("{d} {month} {y}"),
        'F' => format!("{weekday}, {d} {month} {y} {h:02}:{m:02} UTC"),
        _ => format!("{d} {month} {y} {h:02}:{m:02} UTC"),
    }
}

#[cfg(test)]
mod tests {
    use super::{discord_time, iso};

    #[test]
    fn discord_timestamps_in_each_style() {
        // 2024-11-30 20:53:20 UTC, a Saturday.
        let t = 1_733_000_000;
        assert_eq!(iso(t), "2024-11-30T20:53:20Z");
        assert_eq!(discord_time(t, 't'), "20:53 UTC");
        assert_eq!(discord_time(t, 'T'), "20:53:20 UTC");
        assert_eq!(discord_time(t, 'd'), "2024-11-30");
        assert_eq!(discord_time(t, 'D'), "30 November 2024");
        assert_eq!(discord_time(t, 'f'), "30 November 2024 20:53 UTC");
        assert_eq!(discord_time(t, 'F'), "Saturday, 30 November 2024 20:53 UTC");
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso(-1), "1969-12-31T23:59:59Z");
    }
}
