//! One prompt file read, checked and compiled: its templates go into the prompt's own minijinja
//! environment once, and every problem found is kept with the file and line it belongs to.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::lines::{line_of, Step};
use super::spec::{MessageSpec, Part, PromptFile};
use super::templates::{environment, Compiled};
use super::Prompt;

/// A problem found at load: an error stops the load; a warning is only said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub warning: bool,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.warning { "warning" } else { "error" };
        write!(
            f,
            "{}:{}: {level}: {}",
            self.file.display(),
            self.line,
            self.message
        )
    }
}

/// Read and compile one file: the prompt, or `None` when an error was found; problems either way.
pub(super) fn compile(path: &Path) -> (Option<Prompt>, Vec<Problem>) {
    let mut problems = Vec::new();
    let problem = |line: usize, warning: bool, message: String| Problem {
        file: path.to_path_buf(),
        line,
        warning,
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return (None, vec![problem(1, false, format!("cannot read: {e}"))]),
    };
    let file: PromptFile = match serde_yaml_ng::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            let line = e.location().map_or(1, |l| l.line());
            return (None, vec![problem(line, false, e.to_string())]);
        }
    };
    let declared: HashSet<&str> = file.variables.iter().map(|v| v.name.as_str()).collect();
    let mut env = environment();
    let globals: HashSet<String> = env.globals().map(|(k, _)| k.to_string()).collect();
    let mut used = BTreeSet::new();
    let mut compiled = Vec::new();
    for (path_steps, source) in templates(&file) {
        let steps: Vec<Step<'_>> = path_steps.iter().map(Owned::step).collect();
        let at = line_of(&text, &steps);
        // A block scalar (`|`, `>`) starts on the line after its key.
        let first = at + usize::from(block_scalar(&text, at));
        // Named by its place ("variants.anthropic.system"), which is how the parts find it.
        let name = label(&path_steps);
        if let Err(e) = env.add_template_owned(name.clone(), source) {
            let line = first + e.line().unwrap_or(1).saturating_sub(1);
            let what = e.detail().unwrap_or("invalid template").to_string();
            problems.push(problem(
                line,
                false,
                format!("template syntax error in {}: {what}", label(&path_steps)),
            ));
            continue;
        }
        let Ok(tmpl) = env.get_template(&name) else {
            continue;
        };
        compiled.push(name.clone());
        let mut names: Vec<String> = tmpl.undeclared_variables(false).into_iter().collect();
        names.sort();
        for name in names {
            if globals.contains(&name) {
                continue;
            }
            if !declared.contains(name.as_str()) {
                problems.push(problem(
                    first,
                    false,
                    format!(
                        "{} uses variable '{name}', which is not declared in variables",
                        label(&path_steps)
                    ),
                ));
            }
            used.insert(name);
        }
    }
    let mut seen = HashSet::new();
    for (i, v) in file.variables.iter().enumerate() {
        let at = line_of(&text, &[Step::Key("variables"), Step::Item(i)]);
        if !seen.insert(v.name.as_str()) {
            problems.push(problem(
                at,
                false,
                format!("variable '{}' is declared twice", v.name),
            ));
        }
        if !used.contains(&v.name) {
            problems.push(problem(
                at,
                true,
                format!("variable '{}' is declared but no template uses it", v.name),
            ));
        }
        if let Some(d) = &v.default {
            if !v.kind.accepts(d) {
                problems.push(problem(
                    at,
                    false,
                    format!(
                        "variable '{}': default is {}, expected {}",
                        v.name,
                        super::spec::json_type(d),
                        v.kind.name()
                    ),
                ));
            }
        }
    }
    if file.system.is_none() && file.messages.is_none() {
        problems.push(problem(
            1,
            false,
            "a prompt needs `system` or `messages`".into(),
        ));
    }
    if problems.iter().any(|p| !p.warning) {
        return (None, problems);
    }
    let index: HashMap<&str, usize> = compiled
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut base = file.base();
    number_templates(&mut base, Vec::new(), &index);
    let mut variants = file.variants;
    let mut environments = file.environments;
    for (group, parts) in [
        ("variants", &mut variants),
        ("environments", &mut environments),
    ] {
        for (name, part) in parts.iter_mut() {
            number_templates(
                part,
                vec![Owned::Key(group.into()), Owned::Key(name.clone())],
                &index,
            );
        }
    }
    let declared = file
        .variables
        .iter()
        .map(|v| {
            let default = v.default.as_ref().map(minijinja::Value::from_serialize);
            (minijinja::Value::from(v.name.as_str()), default)
        })
        .collect();
    let Some(templates) = Compiled::lookup(env, &compiled) else {
        problems.push(problem(1, false, "a template compiled but was lost".into()));
        return (None, problems);
    };
    let prompt = Prompt {
        name: file.name,
        description: file.description,
        version: file.version,
        file: path.to_path_buf(),
        variables: file.variables,
        declared,
        base,
        variants,
        environments,
        templates,
    };
    (Some(prompt), problems)
}

/// One step of a template's place in the file, owned (variant names come from the file).
#[derive(Debug, Clone)]
enum Owned {
    Key(String),
    Item(usize),
}

impl Owned {
    fn step(&self) -> Step<'_> {
        match self {
            Owned::Key(k) => Step::Key(k),
            Owned::Item(i) => Step::Item(*i),
        }
    }
}

/// "variants.anthropic.messages[0].content", for messages.
fn label(path: &[Owned]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Owned::Key(k) if out.is_empty() => out.push_str(k),
            Owned::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Owned::Item(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Every template of the file with its place: the base's, each variant's, each environment's.
fn templates(file: &PromptFile) -> Vec<(Vec<Owned>, String)> {
    let mut out = Vec::new();
    let base = file.base();
    part_templates(&base, Vec::new(), &mut out);
    for (group, parts) in [
        ("variants", &file.variants),
        ("environments", &file.environments),
    ] {
        for (name, part) in parts {
            let at = vec![Owned::Key(group.into()), Owned::Key(name.clone())];
            part_templates(part, at, &mut out);
        }
    }
    out
}

fn part_templates(part: &Part, at: Vec<Owned>, out: &mut Vec<(Vec<Owned>, String)>) {
    if let Some(s) = &part.system {
        let mut p = at.clone();
        p.push(Owned::Key("system".into()));
        out.push((p, s.clone()));
    }
    for (i, MessageSpec { content, .. }) in part.messages.iter().flatten().enumerate() {
        let mut p = at.clone();
        p.extend([
            Owned::Key("messages".into()),
            Owned::Item(i),
            Owned::Key("content".into()),
        ]);
        out.push((p, content.clone()));
    }
}

/// Each template of `part` gets the number it was compiled under ([`label`] names its place;
/// `index` numbers the names). A number not found stays `usize::MAX`, which a render refuses.
fn number_templates(part: &mut Part, at: Vec<Owned>, index: &HashMap<&str, usize>) {
    let number = |p: &[Owned]| index.get(label(p).as_str()).copied().unwrap_or(usize::MAX);
    if part.system.is_some() {
        let mut p = at.clone();
        p.push(Owned::Key("system".into()));
        part.system_at = number(&p);
    }
    for (i, m) in part.messages.iter_mut().flatten().enumerate() {
        let mut p = at.clone();
        p.extend([
            Owned::Key("messages".into()),
            Owned::Item(i),
            Owned::Key("content".into()),
        ]);
        m.at = number(&p);
    }
}

/// Whether the key on `line` (1-based) holds a block scalar, whose text starts on the next line.
fn block_scalar(text: &str, line: usize) -> bool {
    let Some(l) = text.lines().nth(line.saturating_sub(1)) else {
        return false;
    };
    let value = l.split_once(':').map_or("", |(_, v)| v.trim());
    value.starts_with('|') || value.starts_with('>')
}
