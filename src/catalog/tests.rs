use super::*;

#[test]
fn every_price_is_a_real_non_negative_number_and_reads_cost_no_more_than_input() {
    for row in rows() {
        let Some(p) = row.prices else { continue };
        for (what, v) in [
            ("input", p.input),
            ("output", p.output),
            ("5m write", p.cache_write_5m),
            ("1h write", p.cache_write_1h),
            ("read", p.cache_read),
        ] {
            assert!(v.is_finite() && v >= 0.0, "{}: {what} {v}", row.key);
        }
        assert!(p.cache_read <= p.input, "{}: read above input", row.key);
        assert!(
            p.cache_write_5m >= p.input,
            "{}: write below input",
            row.key
        );
    }
}

#[test]
fn keys_are_written_as_names_are_compared_and_appear_once() {
    let mut seen = std::collections::HashSet::new();
    for row in rows() {
        let stem = row.key.strip_suffix('*').unwrap_or(row.key);
        assert!(!stem.is_empty(), "an empty key");
        assert!(
            stem.len() <= name::MAX_KEY,
            "{} is too long to match",
            row.key
        );
        assert!(
            stem.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'),
            "{} is not normalised",
            row.key
        );
        assert!(seen.insert(row.key), "{} twice", row.key);
    }
}

#[test]
fn a_known_model_has_the_facts_its_page_gives() {
    let opus = "claude-opus-4-5-20251101";
    assert_eq!(prices(opus).map(|p| (p.input, p.output)), Some((5.0, 25.0)));
    assert_eq!(context_window(opus), Some(200_000));
    assert_eq!(max_output_tokens(opus), Some(64_000));
    assert_eq!(min_cacheable_tokens(opus), Some(4_096));
    assert_eq!(automatic_caching(opus), Some(true));
    assert_eq!(prompt_caching(opus), Some(true));
    assert_eq!(vision(opus), Some(true));
    assert_eq!(batch_api(opus), Some(true));
    assert_eq!(structured_output("gpt-4o-mini"), Some(true));
    assert_eq!(prompt_caching("gpt-4o-mini"), Some(true));
}

#[test]
fn an_unknown_model_has_no_facts_at_all() {
    for name in ["llama3.2", "my-finetune", "claude-99", "gpt-6x", ""] {
        let known: Vec<&str> = rows()
            .filter(|row| Name::new(name).rank(row.key).is_some())
            .map(|row| row.key)
            .collect();
        assert!(known.is_empty(), "{name} matched {known:?}");
        assert_eq!(prices(name), None);
        assert_eq!(context_window(name), None);
        assert_eq!(min_cacheable_tokens(name), None);
        assert_eq!(structured_output(name), None);
    }
}

#[test]
fn the_longest_key_wins_and_snapshots_take_their_models_facts() {
    // claude-opus-4 (the old, higher price) answers for its own snapshots, never for 4-7's.
    assert_eq!(
        prices("claude-opus-4-20250514").map(|p| p.input),
        Some(15.0)
    );
    assert_eq!(prices("claude-opus-4-7").map(|p| p.input), Some(5.0));
    assert_eq!(
        prices("claude-opus-4-7-20260101").map(|p| p.input),
        Some(5.0)
    );
    assert_eq!(
        prices("anthropic/claude-sonnet-4.5").map(|p| p.input),
        Some(3.0)
    );
    assert_eq!(
        prices("gpt-4o-mini-2024-07-18").map(|p| p.input),
        Some(0.15)
    );
    assert_eq!(prices("gpt-5.6-sol"), None);
}

#[test]
fn a_row_states_only_what_differs_and_the_rest_comes_from_a_less_specific_row() {
    // The first GPT-4o snapshot has no structured outputs, but is priced as gpt-4o.
    let first = "gpt-4o-2024-05-13";
    assert_eq!(structured_output(first), Some(false));
    assert_eq!(prices(first), prices("gpt-4o"));
    // A family row answers for models without a row of their own, and prices none of them.
    assert_eq!(structured_output("gpt-5.6-sol"), Some(true));
}

#[test]
fn structured_output_is_what_extraction_decided_before_the_catalogue() {
    let cases = [
        ("gpt-4o", Some(true)),
        ("gpt-4o-2024-08-06", Some(true)),
        ("gpt-4o-mini", Some(true)),
        ("gpt-4.1-mini", Some(true)),
        ("gpt-4.5-preview", Some(true)),
        ("gpt-5", Some(true)),
        ("gpt-5-mini-2025-08-07", Some(true)),
        ("o1", Some(true)),
        ("o1-2024-12-17", Some(true)),
        ("o3-mini", Some(true)),
        ("o4-mini", Some(true)),
        ("chatgpt-4o-latest", Some(true)),
        ("gpt-4", Some(false)),
        ("gpt-4-turbo", Some(false)),
        ("gpt-4-1106-preview", Some(false)),
        ("gpt-3.5-turbo", Some(false)),
        ("o1-mini", Some(false)),
        ("o1-mini-2024-09-12", Some(false)),
        ("o1-preview", Some(false)),
        ("llama3.2", None),
    ];
    for (name, want) in cases {
        assert_eq!(structured_output(name), want, "{name}");
    }
}

#[test]
fn bedrock_ids_find_the_claude_rows_and_novas_own() {
    // Claude on Bedrock is priced as on the Claude API, under any inference profile.
    for id in [
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
    ] {
        assert_eq!(prices(id), prices("claude-sonnet-4-5"), "{id}");
        assert_eq!(min_cacheable_tokens(id), Some(1_024), "{id}");
    }
    assert_eq!(
        prices("anthropic.claude-3-5-haiku-20241022-v1:0"),
        prices("claude-3-5-haiku")
    );
    assert_eq!(
        prices("eu.anthropic.claude-haiku-4-5-20251001-v1:0").map(|p| p.input),
        Some(1.0)
    );
    let micro = "us.amazon.nova-micro-v1:0";
    assert_eq!(
        prices(micro).map(|p| (p.input, p.output, p.cache_read)),
        Some((0.035, 0.14, 0.035 / 4.0))
    );
    assert_eq!(vision(micro), Some(false));
    assert_eq!(context_window(micro), Some(128_000));
    let pro = "amazon.nova-pro-v1:0";
    assert_eq!(prices(pro).map(|p| (p.input, p.output)), Some((0.8, 3.2)));
    assert_eq!(vision(pro), Some(true));
    assert_eq!(structured_output(pro), Some(false));
    assert_eq!(prompt_caching(pro), Some(true));
    assert_eq!(automatic_caching(pro), Some(false));
    assert_eq!(min_cacheable_tokens(pro), Some(1_000));
    assert_eq!(prices("amazon.nova-lite-v1:0").map(|p| p.input), Some(0.06));
    assert_eq!(
        prices("us.amazon.nova-premier-v1:0").map(|p| p.output),
        Some(12.5)
    );
    // A model no row names has no facts, Bedrock id or not.
    assert_eq!(prices("meta.llama3-1-70b-instruct-v1:0"), None);
}
