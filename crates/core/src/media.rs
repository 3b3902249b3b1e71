//! Which request bodies a JSON route takes, by their Content-Type: `application/json` (or `application/*+json`), in
//! UTF-8 (RFC 8259: JSON between systems is UTF-8), and `text/plain` where a route allows it, which is what
//! `navigator.sendBeacon` sends. The functions and the edge Worker both answer 415 with these words.

/// Why a body's Content-Type is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaTypeError {
    /// A charset other than UTF-8.
    #[error("the body must be UTF-8 JSON; got charset `{0}`")]
    NotUtf8(String),
    /// Not a JSON media type (nor text/plain where allowed).
    #[error("the body must be JSON sent as {accepted}; got {got}")]
    NotJson {
        /// The media types the route takes.
        accepted: &'static str,
        /// What the request said, in words.
        got: String,
    },
}

/// Checks a request's Content-Type (`""` when it has none).
pub fn check_json_content_type(content_type: &str, text_plain_allowed: bool) -> Result<(), MediaTypeError> {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let is_json = essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"));
    let charset = content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"').to_ascii_lowercase())
    });
    if let Some(charset) = charset.filter(|charset| charset != "utf-8" && charset != "utf8") {
        return Err(MediaTypeError::NotUtf8(charset));
    }
    if is_json || (text_plain_allowed && essence == "text/plain") {
        return Ok(());
    }
    Err(MediaTypeError::NotJson {
        accepted: if text_plain_allowed { "application/json or text/plain" } else { "application/json" },
        got: if content_type.is_empty() { "no Content-Type".to_string() } else { format!("`{content_type}`") },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_in_utf8_and_where_allowed_text_plain() {
        for taken in ["application/json", "Application/JSON; charset=UTF-8", "application/problem+json"] {
            assert_eq!(check_json_content_type(taken, false), Ok(()), "{taken}");
        }
        assert_eq!(check_json_content_type("text/plain;charset=UTF-8", true), Ok(()));
        assert!(matches!(check_json_content_type("text/plain", false), Err(MediaTypeError::NotJson { .. })));
        assert_eq!(
            check_json_content_type("application/json; charset=latin1", false),
            Err(MediaTypeError::NotUtf8("latin1".into()))
        );
        assert_eq!(
            check_json_content_type("", true).unwrap_err().to_string(),
            "the body must be JSON sent as application/json or text/plain; got no Content-Type"
        );
    }
}
