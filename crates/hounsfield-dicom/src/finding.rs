//! Findings: defects and decisions reported for one file.

use dicom_core::Tag;
use serde::Serialize;

use crate::error::AttributeError;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A documented default was used.
    Info,
    /// The input was repaired or an assumption was made.
    Warning,
    /// The input cannot be used.
    Error,
}

/// One defect or decision about a file, with the attribute it concerns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// A stable identifier of the rule, e.g. `bits-above-high-bit`.
    pub code: &'static str,
    /// The attribute keyword, when the finding concerns one attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyword: Option<&'static str>,
    /// The attribute tag as `(gggg,eeee)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The value found, as text, when the finding concerns a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What the standard or Hounsfield expects instead of `value`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What happened, in one sentence.
    pub message: String,
}

impl Finding {
    /// Creates a finding that concerns no single attribute.
    pub fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Finding {
            severity,
            code,
            keyword: None,
            tag: None,
            value: None,
            expected: None,
            message: message.into(),
        }
    }

    /// Creates a finding about the attribute `tag`.
    pub fn about(
        severity: Severity,
        code: &'static str,
        tag: Tag,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            severity,
            code,
            keyword: Some(crate::attr::keyword(tag)),
            tag: Some(tag.to_string()),
            value: None,
            expected: None,
            message: message.into(),
        }
    }

    /// Creates a warning from an attribute that could not be parsed and was
    /// therefore left out.
    pub fn ignored_attribute(error: &AttributeError) -> Self {
        Finding {
            severity: Severity::Warning,
            code: "invalid-value",
            keyword: Some(error.keyword),
            tag: Some(error.tag.to_string()),
            value: None,
            expected: None,
            message: format!("{error}; the attribute was ignored"),
        }
    }

    /// Records the value found.
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Records what was expected instead of the value found.
    pub fn expecting(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }
}
