//! De-identification of exported metadata, following the Basic Application
//! Level Confidentiality Profile (PS3.15 Annex E).
//!
//! Exported metadata is already an allowlist ([`ImageMetadata`]): no patient
//! names, IDs, addresses, free text or private attributes reach it. This
//! module adds the profile's remaining steps for the values it keeps: UIDs
//! replaced consistently by a keyed hash, dates shifted by a per-patient
//! offset, and the record of what was done (Patient Identity Removed and
//! De-identification Method, PS3.15 E.1.1).

use chrono::NaiveDate;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::attr::{self, Object};
use crate::metadata::ImageMetadata;
use crate::tags;

type HmacSha256 = Hmac<Sha256>;

/// Largest date shift in days, in either direction.
pub const MAX_DATE_SHIFT_DAYS: i64 = 365;

/// A De-identification Method code of PS3.16 CID 7050.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MethodCode {
    /// Code Value, e.g. `113100`.
    pub code: &'static str,
    /// Code Meaning.
    pub meaning: &'static str,
}

const BASIC_PROFILE: MethodCode = MethodCode {
    code: "113100",
    meaning: "Basic Application Confidentiality Profile",
};
const RETAIN_MODIFIED_DATES: MethodCode = MethodCode {
    code: "113107",
    meaning: "Retain Longitudinal Temporal Information Modified Dates Option",
};
const RETAIN_DEVICE_IDENTITY: MethodCode = MethodCode {
    code: "113109",
    meaning: "Retain Device Identity Option",
};
const RETAIN_UIDS: MethodCode = MethodCode {
    code: "113110",
    meaning: "Retain UIDs Option",
};

/// What was done to the exported metadata, written with every sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeidentificationRecord {
    /// Patient Identity Removed (0012,0062): `YES`, or `NO` when the user
    /// exported patient attributes.
    pub patient_identity_removed: &'static str,
    /// De-identification Method (0012,0063), as text.
    pub method: String,
    /// De-identification Method Code Sequence (0012,0064) codes.
    pub codes: Vec<MethodCode>,
}

/// Keys and choices for de-identifying exported metadata.
#[derive(Clone, Default)]
pub struct Deidentifier {
    uid_key: Option<Vec<u8>>,
    date_key: Option<Vec<u8>>,
    include_patient_attributes: bool,
}

impl std::fmt::Debug for Deidentifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the keys.
        f.debug_struct("Deidentifier")
            .field("remaps_uids", &self.uid_key.is_some())
            .field("shifts_dates", &self.date_key.is_some())
            .field(
                "include_patient_attributes",
                &self.include_patient_attributes,
            )
            .finish()
    }
}

fn keyed_hash(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
        mac.update(&[0]);
    }
    mac.finalize().into_bytes().into()
}

impl Deidentifier {
    /// Creates a de-identifier. `uid_key` enables UID replacement and
    /// `date_key` the per-patient date shift; both are secrets that must stay
    /// the same across runs that should agree.
    pub fn new(
        uid_key: Option<Vec<u8>>,
        date_key: Option<Vec<u8>>,
        include_patient_attributes: bool,
    ) -> Self {
        Deidentifier {
            uid_key: uid_key.filter(|key| !key.is_empty()),
            date_key: date_key.filter(|key| !key.is_empty()),
            include_patient_attributes,
        }
    }

    /// Replaces a UID by `2.25.` followed by the decimal value of the first
    /// 128 bits of HMAC-SHA256(key, UID), the UUID-derived form of PS3.5
    /// B.2. The same key maps the same UID to the same value in every file.
    pub fn replace_uid(&self, uid: &str) -> String {
        match &self.uid_key {
            None => uid.to_string(),
            Some(key) => {
                let digest = keyed_hash(key, &[uid.as_bytes()]);
                let mut first = [0u8; 16];
                first.copy_from_slice(&digest[..16]);
                format!("2.25.{}", u128::from_be_bytes(first))
            }
        }
    }

    /// The date offset of a patient in days, in
    /// [-MAX_DATE_SHIFT_DAYS, MAX_DATE_SHIFT_DAYS], or `None` without a key.
    pub fn date_shift_days(&self, patient_id: &str) -> Option<i64> {
        let key = self.date_key.as_ref()?;
        let digest = keyed_hash(key, &[b"date-shift", patient_id.as_bytes()]);
        let value = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]));
        Some((value % (2 * MAX_DATE_SHIFT_DAYS as u64 + 1)) as i64 - MAX_DATE_SHIFT_DAYS)
    }

    /// Shifts a DA value (`YYYYMMDD`) by the patient's offset. Returns
    /// `None` without a key or for a value that is not a valid date.
    pub fn shift_date(&self, patient_id: &str, date: &str) -> Option<String> {
        let days = self.date_shift_days(patient_id)?;
        let parsed = NaiveDate::parse_from_str(date.trim(), "%Y%m%d").ok()?;
        let shifted = parsed.checked_add_signed(chrono::Duration::days(days))?;
        Some(shifted.format("%Y%m%d").to_string())
    }

    /// Applies UID replacement and the date shift to exported metadata. The
    /// study date is exported only when it can be shifted.
    pub fn apply(&self, metadata: &mut ImageMetadata, object: &Object) {
        for uid in [
            &mut metadata.sop_instance_uid,
            &mut metadata.series_instance_uid,
            &mut metadata.study_instance_uid,
            &mut metadata.frame_of_reference_uid,
        ]
        .into_iter()
        .flatten()
        {
            *uid = self.replace_uid(uid);
        }
        let patient_id = attr::text(object, tags::PATIENT_ID).unwrap_or_default();
        metadata.study_date_shifted = attr::text(object, tags::STUDY_DATE)
            .and_then(|date| self.shift_date(&patient_id, &date));
    }

    /// The record of what was done, for the sample metadata.
    pub fn record(&self) -> DeidentificationRecord {
        let mut codes = vec![BASIC_PROFILE, RETAIN_DEVICE_IDENTITY];
        let mut steps = vec![
            "allowlist of technical attributes",
            "no private attributes",
            "device identity kept",
        ];
        if self.uid_key.is_some() {
            steps.push("UIDs replaced by keyed hash");
        } else {
            codes.push(RETAIN_UIDS);
            steps.push("UIDs kept");
        }
        if self.date_key.is_some() {
            codes.push(RETAIN_MODIFIED_DATES);
            steps.push("dates shifted per patient");
        } else {
            steps.push("no dates");
        }
        if self.include_patient_attributes {
            steps.push("patient attributes exported on request");
        }
        DeidentificationRecord {
            patient_identity_removed: if self.include_patient_attributes {
                "NO"
            } else {
                "YES"
            },
            method: format!(
                "Hounsfield {}: {}",
                env!("CARGO_PKG_VERSION"),
                steps.join("; ")
            ),
            codes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_replacement_is_consistent_and_valid() {
        let deid = Deidentifier::new(Some(b"secret".to_vec()), None, false);
        let first = deid.replace_uid("1.2.840.113619.2.1.1");
        assert_eq!(first, deid.replace_uid("1.2.840.113619.2.1.1"));
        assert_ne!(first, deid.replace_uid("1.2.840.113619.2.1.2"));
        assert!(first.starts_with("2.25."));
        assert!(crate::attr::check_uid(&first).is_ok(), "{first}");
        let other_key = Deidentifier::new(Some(b"other".to_vec()), None, false);
        assert_ne!(first, other_key.replace_uid("1.2.840.113619.2.1.1"));
    }

    #[test]
    fn uids_are_kept_without_a_key() {
        let deid = Deidentifier::default();
        assert_eq!(deid.replace_uid("1.2.3"), "1.2.3");
        let record = deid.record();
        assert!(record.codes.iter().any(|code| code.code == "113110"));
        assert_eq!(record.patient_identity_removed, "YES");
    }

    #[test]
    fn date_shift_is_per_patient_and_bounded() {
        let deid = Deidentifier::new(None, Some(b"dates".to_vec()), false);
        let shift = deid.date_shift_days("ID0001").unwrap();
        assert!((-MAX_DATE_SHIFT_DAYS..=MAX_DATE_SHIFT_DAYS).contains(&shift));
        assert_eq!(Some(shift), deid.date_shift_days("ID0001"));
        // Two dates of one patient keep their interval.
        let a = deid.shift_date("ID0001", "20200101").unwrap();
        let b = deid.shift_date("ID0001", "20200111").unwrap();
        let day = |text: &str| NaiveDate::parse_from_str(text, "%Y%m%d").unwrap();
        assert_eq!((day(&b) - day(&a)).num_days(), 10);
        assert_eq!(deid.shift_date("ID0001", "2020-01-01"), None);
    }
}
