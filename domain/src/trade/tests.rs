use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::*;

const CORPUS: &str = include_str!("../../tests/data/trade_signals.json");

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn same_levels(got: &[Level], want: &Value) -> bool {
    let want: Vec<f64> = want.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| close(g.value, *w))
}

/// Every text of the committed corpus parses to exactly its expected trade (or to none).
#[test]
fn the_corpus_parses_as_expected() {
    let corpus: Vec<Value> = serde_json::from_str(CORPUS).unwrap();
    assert!(corpus.len() >= 60, "the corpus holds at least 60 texts");
    let formats: std::collections::BTreeSet<&str> = corpus.iter().filter_map(|c| c["format"].as_str()).collect();
    assert!(formats.len() >= 10, "in several formats: {formats:?}");
    let mut wrong = Vec::new();
    for case in &corpus {
        let text = case["text"].as_str().unwrap();
        let got = parse(text);
        let want = &case["expect"];
        let ok = match (&got, want) {
            (None, Value::Null) => true,
            (Some(t), w) if w.is_object() => {
                t.pair == w["pair"].as_str().unwrap()
                    && serde_json::to_value(t.side).unwrap() == w["side"]
                    && same_levels(&t.entry, &w["entry"])
                    && same_levels(&t.targets, &w["targets"])
                    && match (&t.stop, w["stop"].as_f64()) {
                        (None, None) => true,
                        (Some(s), Some(w)) => close(s.value, w),
                        _ => false,
                    }
            }
            _ => false,
        };
        if !ok {
            wrong.push(format!("{text:?}\n  got  {got:?}\n  want {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} texts parse wrongly:\n{}",
        wrong.len(),
        corpus.len(),
        wrong.join("\n")
    );
}

#[test]
fn levels_keep_their_written_form() {
    let t = parse("ETH/USDT LONG\nEntry 3,100\nTP1 3,250\nSL 3,050").unwrap();
    assert_eq!(t.entry[0].text, "3,100");
    assert_eq!(t.stop.as_ref().unwrap().text, "3,050");
    let t = parse("btc/usdt long 64k sl 62.5k").unwrap();
    assert_eq!((t.entry[0].text.as_str(), t.entry[0].value), ("64k", 64_000.0));
}

#[test]
fn an_edit_that_moves_levels_is_named_level_by_level() {
    let before = parse("ETH/USDT LONG\nEntry 3,300\nTP1 3,400\nTP2 3,500\nSL 3,150").unwrap();
    let after = parse("ETH/USDT LONG\nEntry 3,300\nTP1 3,400\nTP2 3,550\nTP3 3,700\nSL 3,200").unwrap();
    let c = changes(&before, &after);
    let shown: Vec<String> = c.iter().map(|c| format!("{} {} → {}", c.label, c.from, c.to)).collect();
    assert_eq!(shown, ["TP2 3,500 → 3,550", "TP3 — → 3,700", "SL 3,150 → 3,200"]);
    assert!(changes(&after, &after).is_empty());
}

/// Pieces signal texts are made of, so random inputs come near the parser's paths.
const PIECES: &[&str] = &[
    "BTC/USDT",
    "#ETHUSDT",
    "$SOL",
    "EURUSD",
    "long",
    "SHORT",
    "buy",
    "sell",
    "Entry",
    "entry zone",
    "TP",
    "TP1",
    "Target",
    "take profit",
    "SL",
    "stop loss",
    "s/l",
    "@",
    "1)",
    "2.",
    "3:",
    "64,000",
    "0.0001",
    "1.2.3",
    "64k",
    "10x",
    "5%",
    "-",
    "–",
    "/",
    "|",
    ":",
    "\n",
    " ",
    "🎯",
    "**",
    "`",
    "1,2345",
    "99999999999999999999999",
    ".",
    ",",
    "<@1796565052388050>",
    "<@",
    "<",
    ">",
    "<t:1733000000:R>",
    "<:fire:789>",
    "https://example.com/1",
    "http",
];

#[test]
fn no_input_panics_and_work_stays_linear() {
    let mut rng = StdRng::seed_from_u64(15);
    for round in 0..3_000 {
        let len = rng.gen_range(0..200);
        let text: String = if round % 3 == 0 {
            // Arbitrary characters, multi-byte ones included.
            (0..len)
                .map(|_| char::from_u32(rng.gen_range(0..0x2_0000)).unwrap_or('x'))
                .collect()
        } else {
            (0..len).map(|_| PIECES[rng.gen_range(0..PIECES.len())]).collect()
        };
        let mut steps = 0;
        let _ = parse_counting(&text, &mut steps);
        assert!(
            steps <= 4 * (text.chars().count() + 1),
            "{steps} steps for {} chars: {text:?}",
            text.chars().count()
        );
    }
    // The same piece repeated a great many times: still linear.
    for piece in PIECES {
        let text = piece.repeat(5_000);
        let mut steps = 0;
        let _ = parse_counting(&text, &mut steps);
        assert!(steps <= 4 * (text.chars().count() + 1), "{piece:?}: {steps} steps");
    }
}

#[test]
fn pairs_typed_in_a_filter() {
    for typed in ["btcusdt", "BTC/USDT", "btc-usdt", "#BTCUSDT"] {
        assert_eq!(normalise_pair(typed).as_deref(), Some("BTC/USDT"), "{typed}");
    }
    assert_eq!(normalise_pair("eurusd").as_deref(), Some("EUR/USD"));
    assert_eq!(normalise_pair("sol").as_deref(), Some("SOL"));
    assert_eq!(normalise_pair("not a pair!"), None);
}
