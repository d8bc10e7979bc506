//! A prompt's templates: its own minijinja environment, set up as every prompt's is, and each of
//! its templates looked up there once, so that a render takes a template by its number.
//!
//! Measured with `bench/prompts.py` (valgrind's instruction counts, which the machine's load does
//! not move): looking a template up by name on every render cost about 500 instructions each
//! (the loader's store takes a lock and copies the name), and writing a string value through
//! `write!` about 200 per `{{ value }}`.

use minijinja::{
    AutoEscape, Environment, Error, Output, State, Template, UndefinedBehavior, Value,
};
use self_cell::self_cell;

/// A fresh environment as every prompt uses: strict about undefined variables (a typo is an
/// error, not an empty string), no auto-escaping (prompts are not HTML; `|e` escapes when asked),
/// and a template's last newline kept, as YAML's block scalars mean it.
pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env.set_formatter(format);
    env
}

/// What `{{ value }}` writes: a string as it is, straight into the output (with no escaping
/// that is all minijinja's own formatter does for one, through `write!`); anything else, and
/// any escaping, as minijinja's formatter does it. An undefined value never gets here in strict
/// mode: the engine raises first.
fn format(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    match value.as_str() {
        Some(s) if state.auto_escape() == AutoEscape::None => Ok(out.write_str(s)?),
        _ => minijinja::escape_formatter(out, state, value),
    }
}

type Looked<'env> = Vec<Template<'env, 'env>>;

self_cell!(
    /// The environment and its templates, in the order they were named to [`Compiled::new`].
    pub(super) struct Compiled {
        owner: Environment<'static>,
        #[not_covariant]
        dependent: Looked,
    }
);

impl Compiled {
    /// `env` with `names` (templates it holds) looked up, in that order; `None` if one is
    /// missing.
    pub(super) fn lookup(env: Environment<'static>, names: &[String]) -> Option<Self> {
        Self::try_new(env, |env| {
            names
                .iter()
                .map(|n| env.get_template(n).map_err(|_| ()))
                .collect::<Result<Looked<'_>, ()>>()
        })
        .ok()
    }

    /// Template number `at` rendered in `ctx`; `None` if there is no such template.
    pub(super) fn render(&self, at: usize, ctx: &Value) -> Option<Result<String, Error>> {
        self.with_dependent(|_, looked| looked.get(at).map(|t| t.render(ctx)))
    }
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled")
            .field("templates", &self.with_dependent(|_, looked| looked.len()))
            .finish()
    }
}
