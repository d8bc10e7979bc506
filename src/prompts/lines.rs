//! Where a key sits in a prompt file's text, for errors that name a line. serde_yaml_ng keeps no
//! spans on values, so the block-style layout prompt files use is walked by indentation: each
//! step of a path is a key (or the n-th `-` item of a list) inside the block of the step before.
//! A step not found stops the walk at the line of the deepest step that was.

/// One step into the document: a mapping key or a sequence index.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Item(usize),
}

/// The 1-based line of the node at `path`, or of its nearest ancestor found; 1 for the root.
pub fn line_of(text: &str, path: &[Step<'_>]) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    // The block to search: its first line, the indentation of its owner (None: the root), and
    // whether its first line is an item's "- key: ..." line.
    let (mut from, mut owner, mut item) = (0usize, None::<usize>, false);
    let mut found = 1;
    for step in path {
        let Some((i, indent)) = find(&lines, from, owner, item, *step) else {
            break;
        };
        found = i + 1;
        match step {
            Step::Key(_) => (from, owner, item) = (i + 1, Some(indent), false),
            Step::Item(_) => (from, owner, item) = (i, Some(indent), true),
        }
    }
    found
}

/// The line of `step` within one block, and its indentation.
fn find(
    lines: &[&str],
    from: usize,
    owner: Option<usize>,
    item: bool,
    step: Step<'_>,
) -> Option<(usize, usize)> {
    let mut level = None;
    let mut index = 0;
    for (i, raw) in lines.iter().enumerate().skip(from) {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut text = trimmed;
        if item && i == from {
            // An item's first key sits after its dash: "- role: user" is role at indent + 2.
            text = trimmed.strip_prefix('-').unwrap_or(trimmed).trim_start();
            indent += trimmed.len() - text.len();
        } else if let Some(o) = owner {
            // YAML lets a list's dashes sit at its key's own indentation.
            let dash_at_owner = indent == o && trimmed.starts_with('-') && !item;
            if indent < o || (indent == o && !dash_at_owner) {
                break;
            }
        }
        let lvl = *level.get_or_insert(indent);
        if indent != lvl {
            continue;
        }
        match step {
            Step::Key(k) => {
                let after = text.strip_prefix(k).map(str::trim_start);
                if after.is_some_and(|r| r.starts_with(':')) {
                    return Some((i, indent));
                }
            }
            Step::Item(n) if text.starts_with('-') => {
                if index == n {
                    return Some((i, indent));
                }
                index += 1;
            }
            Step::Item(_) => {}
        }
    }
    None
}
