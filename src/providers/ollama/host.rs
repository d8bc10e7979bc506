//! `OLLAMA_HOST` as Ollama itself reads it: a bare `host`, `host:port` or `:port` is
//! `http://…` on port 11434, so the value that works for the `ollama` command works here.

const DEFAULT_PORT: &str = "11434";

/// The base URL for `value` (a full URL is kept as it is).
pub fn base_url(value: &str) -> String {
    let value = value.trim();
    if value.contains("://") {
        return value.trim_end_matches('/').to_string();
    }
    let (hostport, path) = match value.split_once('/') {
        Some((h, p)) => (h, p.trim_end_matches('/')),
        None => (value, ""),
    };
    let hostport = match split_port(hostport) {
        (host, Some(port)) => format!(
            "{}:{port}",
            if host.is_empty() { "127.0.0.1" } else { host }
        ),
        ("", None) => format!("127.0.0.1:{DEFAULT_PORT}"),
        (host, None) => format!("{host}:{DEFAULT_PORT}"),
    };
    if path.is_empty() {
        format!("http://{hostport}")
    } else {
        format!("http://{hostport}/{path}")
    }
}

/// `host:port` into its parts; an IPv6 literal keeps its brackets (`[::1]:11434`).
fn split_port(hostport: &str) -> (&str, Option<&str>) {
    if hostport.starts_with('[') {
        return match hostport.rsplit_once("]:") {
            Some((host, port)) => (hostport.get(..=host.len()).unwrap_or(hostport), Some(port)),
            None => (hostport, None),
        };
    }
    match hostport.rsplit_once(':') {
        // Two colons without brackets: an IPv6 address with no port.
        Some((host, _)) if host.contains(':') => (hostport, None),
        Some((host, port)) => (host, Some(port)),
        None => (hostport, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_values_become_urls_as_ollama_reads_them() {
        for (value, url) in [
            ("http://localhost:11434", "http://localhost:11434"),
            ("https://ollama.com/", "https://ollama.com"),
            ("localhost:11434", "http://localhost:11434"),
            ("0.0.0.0", "http://0.0.0.0:11434"),
            ("gpu-box", "http://gpu-box:11434"),
            (":8080", "http://127.0.0.1:8080"),
            ("", "http://127.0.0.1:11434"),
            ("[::1]:9000", "http://[::1]:9000"),
            ("[::1]", "http://[::1]:11434"),
            ("example.com:80/ollama/", "http://example.com:80/ollama"),
        ] {
            assert_eq!(base_url(value), url, "{value:?}");
        }
    }
}
