//! The one error every validation returns: which field, and what rule it broke. The API
//! answers it 422 with the field's JSON path; the CLI prints the message.

use serde::de::DeserializeOwned;

/// A field broke a rule. `field` is a JSON path such as `title`, `to.uids[3]` or
/// `schedule.cron` (empty when the whole value is wrong); `message` names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from the enclosing value: `uids[3]` under `to` is `to.uids[3]`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = match self.field.as_str() {
            "" => parent.to_owned(),
            child if child.starts_with('[') => format!("{parent}{child}"),
            child => format!("{parent}.{child}"),
        };
        self
    }

    /// A serde_json error at `path`, without the line and column (the path says where).
    pub fn from_json_error(path: &serde_path_to_error::Path, error: &serde_json::Error) -> Self {
        let text = error.to_string();
        let message = match text.rsplit_once(" at line ") {
            Some((message, _)) if error.line() > 0 => message.to_owned(),
            _ => text,
        };
        let field = match path.to_string().as_str() {
            "." => String::new(),
            other => other.to_owned(),
        };
        Self { field, message }
    }
}

/// Deserializes a JSON value, naming the field that does not fit.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|e| ValidationError::from_json_error(e.path(), e.inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_nest() {
        assert_eq!(
            ValidationError::new("[3]", "m").under("uids").under("to").field,
            "to.uids[3]"
        );
        assert_eq!(ValidationError::new("", "m").under("title").field, "title");
    }

    #[test]
    fn serde_errors_name_the_field_without_a_position() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Body {
            items: Vec<u8>,
        }
        let error = from_json_value::<Body>(serde_json::json!({"items": [1, "x"]})).unwrap_err();
        assert_eq!(error.field, "items[1]");
        assert!(!error.message.contains("line"), "{}", error.message);
    }
}

/// A rule a value breaks, said before the caller knows which field the value came from: the
/// caller names the field with [`ValidationError::new`], which takes this as its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleBroken(pub String);

impl From<String> for RuleBroken {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for RuleBroken {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

impl From<RuleBroken> for String {
    fn from(rule: RuleBroken) -> Self {
        rule.0
    }
}

impl std::ops::Deref for RuleBroken {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}
