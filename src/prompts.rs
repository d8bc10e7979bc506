//! Prompt templates kept as YAML files: a [`Library`] loads every `*.yaml` of a folder, checks
//! each (`compile.rs`: unknown keys, template syntax, undeclared and unused variables, each with
//! its file and line, found by `lines.rs`), compiles its templates once with minijinja (each
//! prompt its own environment, `templates.rs`), and renders a prompt for a target (`render.rs`:
//! variables checked, the provider's or model's variant, the environment's overrides);
//! `retarget.rs` renders again for each fallback's provider.
//! The file format is `spec.rs`.
//!
//! A library is shared by threads and tasks: prompts sit behind one `RwLock` as `Arc`s, so a
//! render holds the lock only to clone the `Arc`. With `reload`, each lookup compares the file's
//! modification time and recompiles a changed file (for development; a stat per lookup).

mod compile;
mod lines;
mod render;
mod retarget;
mod spec;
mod templates;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use serde_json::Value;

use crate::error::{LlmError, Result};

pub use compile::Problem;
/// The YAML line finder prompt files use; the gateway's config (`crate::gateway`) names lines too.
pub use lines::{line_of, Step};
pub use render::{small_map, Rendered, Vars};
pub use retarget::{apply, retarget, Kept};
pub use spec::Kind;
use spec::{Part, VariableSpec};

/// One compiled prompt.
pub struct Prompt {
    pub name: String,
    pub description: Option<String>,
    pub version: Option<Value>,
    pub file: PathBuf,
    variables: Vec<VariableSpec>,
    /// Per variable, in order: its name and its default as template values, made once here
    /// rather than on every render.
    declared: Vec<(minijinja::Value, Option<minijinja::Value>)>,
    base: Part,
    variants: Vec<(String, Part)>,
    environments: Vec<(String, Part)>,
    /// Every template of the file, compiled; the parts hold their templates' numbers.
    templates: templates::Compiled,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("name", &self.name)
            .field("file", &self.file)
            .finish()
    }
}

/// A declared variable, as callers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    pub name: String,
    pub kind: Kind,
    pub required: bool,
    pub default: Option<Value>,
    pub description: Option<String>,
}

impl Prompt {
    pub fn variables(&self) -> Vec<Variable> {
        self.variables
            .iter()
            .map(|v| Variable {
                name: v.name.clone(),
                kind: v.kind,
                required: v.required,
                default: v.default.clone(),
                description: v.description.clone(),
            })
            .collect()
    }
}

struct Entry {
    prompt: Arc<Prompt>,
    modified: Option<SystemTime>,
}

/// The prompts of one folder, compiled once.
pub struct Library {
    dir: PathBuf,
    env: Option<String>,
    reload: bool,
    prompts: RwLock<HashMap<String, Entry>>,
    warnings: Vec<Problem>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("dir", &self.dir)
            .field("env", &self.env)
            .finish()
    }
}

/// Every problem of every file of `dir`, errors and warnings, in file order; duplicates too.
pub fn check(dir: &Path) -> Result<Vec<Problem>> {
    Ok(load_all(dir)?.1)
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir)
        .map_err(|e| LlmError::config(format!("prompts: cannot read {}: {e}", dir.display())))?;
    let mut out: Vec<PathBuf> = read
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && p.is_file())
        .collect();
    out.sort();
    Ok(out)
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

type Loaded = (HashMap<String, Entry>, Vec<Problem>);

fn load_all(dir: &Path) -> Result<Loaded> {
    let mut prompts: HashMap<String, Entry> = HashMap::new();
    let mut problems = Vec::new();
    for path in files(dir)? {
        let stamp = modified(&path);
        let (prompt, found) = compile::compile(&path);
        problems.extend(found);
        let Some(prompt) = prompt else { continue };
        if let Some(first) = prompts.get(&prompt.name) {
            problems.push(Problem {
                line: lines::line_of(
                    &std::fs::read_to_string(&path).unwrap_or_default(),
                    &[lines::Step::Key("name")],
                ),
                file: path.clone(),
                warning: false,
                message: format!(
                    "prompt name '{}' is already used by {}",
                    prompt.name,
                    first.prompt.file.display()
                ),
            });
            continue;
        }
        let entry = Entry {
            prompt: Arc::new(prompt),
            modified: stamp,
        };
        prompts.insert(entry.prompt.name.clone(), entry);
    }
    Ok((prompts, problems))
}

/// An error carrying every problem, one per line.
fn failed(problems: &[Problem]) -> LlmError {
    let lines: Vec<String> = problems
        .iter()
        .filter(|p| !p.warning)
        .map(Problem::to_string)
        .collect();
    LlmError::config(format!("prompts: {}", lines.join("\n")))
}

impl Library {
    /// Load and check every `*.yaml` of `dir`; any error fails the load, naming all of them.
    /// `env` picks the environment overrides (else `LLMRAIL_ENV`).
    pub fn load(dir: &Path, env: Option<String>, reload: bool) -> Result<Self> {
        let (prompts, problems) = load_all(dir)?;
        if problems.iter().any(|p| !p.warning) {
            return Err(failed(&problems));
        }
        let env = env.or_else(|| std::env::var("LLMRAIL_ENV").ok().filter(|e| !e.is_empty()));
        Ok(Self {
            dir: dir.to_path_buf(),
            env,
            reload,
            prompts: RwLock::new(prompts),
            warnings: problems,
        })
    }

    pub fn env(&self) -> Option<&str> {
        self.env.as_deref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The warnings of the load (unused variables).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// Names of the prompts, sorted.
    pub fn names(&self) -> Vec<String> {
        let map = self.prompts.read().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<String> = map.keys().cloned().collect();
        names.sort();
        names
    }

    /// The prompt called `name`, recompiled first if `reload` is on and its file changed.
    pub fn get(&self, name: &str) -> Result<Arc<Prompt>> {
        let (prompt, stamp) = {
            let map = self.prompts.read().unwrap_or_else(|p| p.into_inner());
            match map.get(name) {
                Some(e) => (e.prompt.clone(), e.modified),
                None => {
                    let mut known: Vec<&str> = map.keys().map(String::as_str).collect();
                    known.sort();
                    return Err(LlmError::config(format!(
                        "no prompt named '{name}' in {} (known: {})",
                        self.dir.display(),
                        known.join(", ")
                    )));
                }
            }
        };
        if !self.reload {
            return Ok(prompt);
        }
        let now = modified(&prompt.file);
        if now == stamp {
            return Ok(prompt);
        }
        let (fresh, problems) = compile::compile(&prompt.file);
        let Some(fresh) = fresh else {
            return Err(failed(&problems));
        };
        if fresh.name != name {
            return Err(LlmError::config(format!(
                "prompts: {} now names '{}', not '{name}'",
                prompt.file.display(),
                fresh.name
            )));
        }
        let fresh = Arc::new(fresh);
        let mut map = self.prompts.write().unwrap_or_else(|p| p.into_inner());
        map.insert(
            name.to_string(),
            Entry {
                prompt: fresh.clone(),
                modified: now,
            },
        );
        Ok(fresh)
    }

    /// The `response_schema` of `name`'s base (no variant, no environment).
    pub fn render_schema(&self, name: &str) -> Result<Option<Value>> {
        Ok(self.get(name)?.base.response_schema.clone())
    }

    /// Render `name` for `target` in this library's environment.
    pub fn render(
        &self,
        name: &str,
        vars: &serde_json::Map<String, Value>,
        target: Option<&str>,
    ) -> Result<Rendered> {
        self.render_vars(name, &Vars::from(vars), target)
    }

    /// [`Library::render`] with the variables already template values (the Python side's way).
    pub fn render_vars(&self, name: &str, vars: &Vars, target: Option<&str>) -> Result<Rendered> {
        self.get(name)?.render(vars, target, self.env.as_deref())
    }
}
