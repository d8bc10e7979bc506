//! The prompt library's unit tests: loading, every check with its line, variants, environments,
//! rendering, reload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::{json, Map, Value};

use super::lines::{line_of, Step};
use super::render::glob;
use super::*;

const SUMMARIZE: &str = r#"name: summarize
description: Summarise a text for a reader
version: 1
variables:
  - {name: text, type: string, required: true}
  - {name: reader, type: string, default: "an engineer"}
  - {name: points, type: int, default: 3}
system: "You write for {{ reader }}."
messages:
  - role: user
    content: "Summarise in {{ points }} points:\n{{ text }}"
variants:
  anthropic:
    system: "<role>You write for {{ reader }}.</role>"
  "openai/gpt-4*":
    max_tokens: 50
environments:
  production:
    max_tokens: 300
"#;

fn folder(files: &[(&str, &str)]) -> tempdir::Dir {
    let dir = tempdir::Dir::new();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// A throwaway folder under the system's temp dir, removed on drop.
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub struct Dir(PathBuf);
    static N: AtomicUsize = AtomicUsize::new(0);
    impl Dir {
        pub fn new() -> Self {
            let n = N.fetch_add(1, Ordering::Relaxed);
            let p =
                std::env::temp_dir().join(format!("llmrail-prompts-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn vars(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn problems(dir: &Path) -> Vec<String> {
    check(dir)
        .unwrap()
        .iter()
        .map(|p| {
            let name = p.file.file_name().unwrap().to_string_lossy().to_string();
            format!(
                "{name}:{}:{}:{}",
                p.line,
                if p.warning { "warning" } else { "error" },
                p.message
            )
        })
        .collect()
}

#[test]
fn the_issue_example_renders_with_defaults_filled_in() {
    let dir = folder(&[("summarize.yaml", SUMMARIZE)]);
    let lib = Library::load(dir.path(), Some("dev".into()), false).unwrap();
    let r = lib
        .render("summarize", &vars(json!({"text": "a <b> & c"})), None)
        .unwrap();
    assert_eq!(r.system.as_deref(), Some("You write for an engineer."));
    assert_eq!(
        r.messages,
        vec![(
            "user".to_string(),
            "Summarise in 3 points:\na <b> & c".to_string()
        )]
    );
    assert_eq!(r.max_tokens, None);
}

#[test]
fn a_provider_variant_and_a_model_pattern_each_override_their_part() {
    let dir = folder(&[("summarize.yaml", SUMMARIZE)]);
    let lib = Library::load(dir.path(), Some("dev".into()), false).unwrap();
    let v = vars(json!({"text": "t", "reader": "a child"}));
    let a = lib
        .render("summarize", &v, Some("anthropic/claude-sonnet-4-5"))
        .unwrap();
    assert_eq!(
        a.system.as_deref(),
        Some("<role>You write for a child.</role>")
    );
    let o = lib.render("summarize", &v, Some("openai/gpt-4o")).unwrap();
    assert_eq!(o.system.as_deref(), Some("You write for a child."));
    assert_eq!(o.max_tokens, Some(50));
}

#[test]
fn the_environment_overrides_on_top_of_the_variant() {
    let dir = folder(&[("summarize.yaml", SUMMARIZE)]);
    let lib = Library::load(dir.path(), Some("production".into()), false).unwrap();
    let r = lib
        .render(
            "summarize",
            &vars(json!({"text": "t"})),
            Some("openai/gpt-4o"),
        )
        .unwrap();
    assert_eq!(r.max_tokens, Some(300));
}

#[test]
fn a_missing_required_variable_and_a_wrong_type_name_prompt_variable_and_type() {
    let dir = folder(&[("summarize.yaml", SUMMARIZE)]);
    let lib = Library::load(dir.path(), None, false).unwrap();
    let e = lib.render("summarize", &vars(json!({})), None).unwrap_err();
    assert_eq!(
        e.message,
        "prompt 'summarize': variable 'text' (string) is required"
    );
    let e = lib
        .render(
            "summarize",
            &vars(json!({"text": "t", "points": "3"})),
            None,
        )
        .unwrap_err();
    assert_eq!(
        e.message,
        "prompt 'summarize': variable 'points' must be int, got string"
    );
}

#[test]
fn an_unknown_key_names_its_line() {
    let text = SUMMARIZE.replace("version: 1", "version: 1\nmax_token: 5");
    let dir = folder(&[("s.yaml", &text)]);
    let found = problems(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("s.yaml:4:error:") && found[0].contains("max_token"),
        "{found:?}"
    );
}

#[test]
fn a_syntax_error_an_undeclared_and_an_unused_variable_are_each_found_at_their_line() {
    let text = "name: p\nvariables:\n  - {name: a}\n  - {name: unused}\nsystem: \"{{ a }} {{ b }}\"\nmessages:\n  - role: user\n    content: |\n      fine {{ a }}\n      broken {% if %}\n";
    let dir = folder(&[("p.yaml", text)]);
    let found = problems(dir.path());
    assert_eq!(
        found,
        vec![
            "p.yaml:5:error:system uses variable 'b', which is not declared in variables",
            "p.yaml:10:error:template syntax error in messages[0].content: unexpected end of block",
            "p.yaml:4:warning:variable 'unused' is declared but no template uses it",
        ],
    );
}

#[test]
fn two_files_with_one_name_are_an_error_naming_both() {
    let dir = folder(&[("a.yaml", SUMMARIZE), ("b.yaml", SUMMARIZE)]);
    let found = problems(dir.path());
    assert_eq!(found.len(), 1);
    assert!(
        found[0].starts_with("b.yaml:1:error:prompt name 'summarize' is already used by"),
        "{found:?}"
    );
    assert!(Library::load(dir.path(), None, false).is_err());
}

#[test]
fn markup_is_not_escaped_unless_asked() {
    let text = "name: m\nvariables:\n  - {name: x}\nsystem: \"{{ x }} {{ x|e }}\"\n";
    let dir = folder(&[("m.yaml", text)]);
    let lib = Library::load(dir.path(), None, false).unwrap();
    let r = lib.render("m", &vars(json!({"x": "<b>"})), None).unwrap();
    assert_eq!(r.system.as_deref(), Some("<b> &lt;b&gt;"));
}

#[test]
fn a_changed_file_is_recompiled_only_with_reload() {
    let dir = folder(&[("m.yaml", "name: m\nsystem: one\n")]);
    let fixed = Library::load(dir.path(), None, false).unwrap();
    let live = Library::load(dir.path(), None, true).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(dir.path().join("m.yaml"), "name: m\nsystem: two\n").unwrap();
    let f = std::fs::File::options()
        .append(true)
        .open(dir.path().join("m.yaml"))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    let none = Map::new();
    assert_eq!(
        fixed.render("m", &none, None).unwrap().system.as_deref(),
        Some("one")
    );
    assert_eq!(
        live.render("m", &none, None).unwrap().system.as_deref(),
        Some("two")
    );
}

#[test]
fn lines_are_found_by_path_through_lists_and_blocks() {
    let text = "a: 1\nmessages:\n- role: user\n  content: x\n- role: assistant\n  content: y\nvariants:\n  openai:\n    system: z\n";
    assert_eq!(
        line_of(
            text,
            &[Step::Key("messages"), Step::Item(1), Step::Key("content")]
        ),
        6
    );
    assert_eq!(
        line_of(
            text,
            &[
                Step::Key("variants"),
                Step::Key("openai"),
                Step::Key("system")
            ]
        ),
        9
    );
    assert_eq!(
        line_of(text, &[Step::Key("variants"), Step::Key("gemini")]),
        7
    );
}

#[test]
fn globs_match_any_run_of_characters() {
    assert!(glob("gemini/*", "gemini/gemini-2.5-flash"));
    assert!(glob("*sonnet*", "anthropic/claude-sonnet-4-5"));
    assert!(!glob("openai/gpt-4*", "openai/o3"));
}

#[test]
fn a_fallback_request_gets_its_providers_rendering_and_keeps_what_the_caller_set() {
    let dir = folder(&[("summarize.yaml", SUMMARIZE)]);
    let lib = Arc::new(Library::load(dir.path(), Some("dev".into()), false).unwrap());
    let v = vars(json!({"text": "t"}));
    let primary = crate::model::ChatRequest {
        system: Some("You write for an engineer.".into()),
        max_tokens: Some(50),
        temperature: Some(0.5),
        ..Default::default()
    };
    let kept = Kept {
        temperature: true,
        ..Kept::default()
    };
    let again = retarget(lib, "summarize".into(), v, kept);
    let req = (again.0)("anthropic/claude-haiku-4-5", &primary).unwrap();
    assert_eq!(
        req.system.as_deref(),
        Some("<role>You write for an engineer.</role>")
    );
    assert_eq!(
        req.max_tokens, None,
        "the openai pattern's max_tokens is not anthropic's"
    );
    assert_eq!(req.temperature, Some(0.5), "the caller's own option stays");
    assert_eq!(req.messages.len(), 1);
}

#[test]
fn a_scanned_map_renders_as_minijinjas_own_map_does() {
    let pairs = |n: usize| -> Vec<(minijinja::Value, minijinja::Value)> {
        // Not in key order: a loop over either map goes in key order all the same.
        (0..n)
            .rev()
            .map(|i| (format!("k{i}").into(), i.into()))
            .collect()
    };
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let source = "{{ m.k1 }} {{ m['k2'] }} {{ m|length }} \
        {% for k, v in m|items %}{{ k }}={{ v }},{% endfor %} {% for k in m %}{{ k }}{% endfor %} \
        {{ m }} {{ m is mapping }} {{ 'k0' in m }} {{ 'zz' in m }} \
        {{ m|dictsort|first }} {{ m.k0 is defined }} {{ m.zz is defined }}";
    // 3 keys are scanned pairs, 13 minijinja's own map: both render as the map they are built from.
    for n in [3, 13] {
        let render = |m: minijinja::Value| {
            env.render_str(source, minijinja::context! { m => m })
                .unwrap()
        };
        let theirs: minijinja::Value = pairs(n).into_iter().collect();
        assert_eq!(render(small_map(pairs(n))), render(theirs));
    }
    let missing = env.render_str(
        "{{ m.zz }}",
        minijinja::context! { m => small_map(pairs(3)) },
    );
    assert_eq!(
        missing.unwrap_err().kind(),
        minijinja::ErrorKind::UndefinedError
    );
}

#[test]
fn a_render_that_fails_names_the_prompt_and_the_templates_place() {
    let text = "name: m\nvariables:\n  - {name: o, type: object}\nsystem: \"{{ o.a }}\"\n\
        variants:\n  anthropic:\n    system: \"{{ o.b }}\"\n";
    let dir = folder(&[("m.yaml", text)]);
    let lib = Library::load(dir.path(), None, false).unwrap();
    let ok = lib
        .render("m", &vars(json!({"o": {"a": 1}})), None)
        .unwrap();
    assert_eq!(ok.system.as_deref(), Some("1"));
    let e = lib
        .render("m", &vars(json!({"o": {"a": 1}})), Some("anthropic/claude"))
        .unwrap_err();
    assert!(e.message.starts_with("prompt 'm': rendering failed"), "{e}");
    assert!(e.message.contains("variants.anthropic.system"), "{e}");
}

#[test]
fn a_prompts_formatter_writes_every_kind_of_value_as_minijinjas_own_does() {
    let ours = super::templates::environment();
    let mut theirs = minijinja::Environment::new();
    theirs.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    theirs.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    theirs.set_keep_trailing_newline(true);
    let source = "{{ s }}|{{ long }}|{{ s|e }}|{{ s|safe }}|{{ n }}|{{ f }}|{{ b }}|{{ z }}|\
        {{ l }}|{{ m }}|{{ l|length }}|{{ s ~ n }}|{% autoescape true %}{{ s }}{% endautoescape %}\n";
    let ctx = minijinja::context! {
        s => "<a & 'b'>",
        long => "a string longer than twenty-two bytes, kept apart by minijinja",
        n => 42,
        f => 1.5,
        b => true,
        z => (),
        l => vec!["x", "y"],
        m => minijinja::context! { k => "v" },
    };
    let render = |env: &minijinja::Environment<'static>| env.render_str(source, &ctx).unwrap();
    assert_eq!(render(&ours), render(&theirs));
    let undefined = ours.render_str("{{ nope }}", &ctx).unwrap_err();
    assert_eq!(undefined.kind(), minijinja::ErrorKind::UndefinedError);
}

#[test]
fn variables_given_in_any_order_render_alike_and_an_undeclared_one_is_named() {
    let dir = folder(&[("summarize.yaml", SUMMARIZE)]);
    let lib = Library::load(dir.path(), None, false).unwrap();
    let given = [
        ("text", json!("t")),
        ("points", json!(2)),
        ("reader", json!("a child")),
    ];
    let in_order = |order: &[usize]| -> Vars {
        Vars(
            order
                .iter()
                .map(|&i| {
                    (
                        given[i].0.into(),
                        minijinja::Value::from_serialize(&given[i].1),
                    )
                })
                .collect(),
        )
    };
    let first = lib
        .render_vars("summarize", &in_order(&[0, 1, 2]), None)
        .unwrap();
    assert_eq!(first.system.as_deref(), Some("You write for a child."));
    for order in [[2, 1, 0], [1, 2, 0], [2, 0, 1]] {
        let again = lib
            .render_vars("summarize", &in_order(&order), None)
            .unwrap();
        assert_eq!(again, first, "{order:?}");
    }
    let mut extra = in_order(&[1, 0]);
    extra.0.insert(1, ("txet".into(), "t".into()));
    let e = lib.render_vars("summarize", &extra, None).unwrap_err();
    assert_eq!(
        e.message,
        "prompt 'summarize': variable 'txet' is not declared (declared: text, reader, points)"
    );
}
