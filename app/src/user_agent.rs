//! A browser's user agent as people name it: "Chrome on Linux", "Safari on iPhone". Shown on
//! `/account` beside each session (the raw string stays in the tooltip).

/// Browsers in the order they must be tested: Edge and Opera also say "Chrome", Chrome also says
/// "Safari".
const BROWSERS: [(&str, &str); 10] = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("HeadlessChrome/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Version/", "Safari"),
];

/// Systems, also in testing order: an iPhone's agent says "like Mac OS X", Android says "Linux".
const SYSTEMS: [(&str, &str); 8] = [
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
];

pub fn describe(agent: &str) -> String {
    let agent = agent.trim();
    if agent.is_empty() {
        return "Unknown browser".into();
    }
    let browser = BROWSERS
        .iter()
        .find(|(mark, _)| agent.contains(mark))
        .map(|(_, name)| *name);
    let system = SYSTEMS
        .iter()
        .find(|(mark, _)| agent.contains(mark))
        .map(|(_, name)| *name);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => format!("A browser on {s}"),
        // A tool ("curl/8.5.0"): its own name.
        (None, None) => agent
            .split(['/', ' '])
            .next()
            .filter(|n| !n.is_empty() && n.len() <= 40)
            .map_or_else(|| "Unknown browser".to_owned(), str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn common_agents_by_name() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
                "Safari on iPhone",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox on Windows",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome on ChromeOS",
            ),
            ("curl/8.5.0", "curl"),
            ("", "Unknown browser"),
            ("   ", "Unknown browser"),
        ];
        for (agent, name) in cases {
            assert_eq!(describe(agent), name, "{agent}");
        }
    }
}
