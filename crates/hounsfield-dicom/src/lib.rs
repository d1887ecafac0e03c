//! Opening DICOM files and reading their attributes for Hounsfield.
//!
//! - [`open`] recognises DICOM by content ([`sniff`]) and opens Part 10
//!   files and bare data sets, optionally stopping before Pixel Data.
//! - [`attr`] reads attribute values strictly: a value that cannot be parsed
//!   is an [`AttributeError`], never a silent default.
//! - [`ImageMetadata`] is the allowlist of technical attributes written next
//!   to exported samples; [`PatientAttributes`] is exported only on request.
//! - [`Finding`] records every defect tolerated and every default assumed.
//! - [`dump`] lists a file's attributes like DCMTK's `dcmdump`, and [`json`]
//!   converts them to the DICOM JSON model (PS3.18 F.2).
//! - [`validate`] checks a header, and the files of a series, against the
//!   rules of the standard that matter for training data.
#![deny(missing_docs)]

pub mod attr;
mod deid;
pub mod dump;
mod error;
mod finding;
pub mod json;
mod metadata;
mod open;
mod scan;
pub mod validate;

pub use deid::{DeidentificationRecord, Deidentifier, MethodCode, MAX_DATE_SHIFT_DAYS};
pub use dicom_core::Tag;
pub use dicom_dictionary_std::tags;
pub use dicom_object::DefaultDicomObject;
pub use error::{error_chain, AttributeError, Error};
pub use finding::{Finding, Severity};
pub use metadata::{ImageMetadata, PatientAttributes};
pub use open::{open, sniff, sniff_file, BareEncoding, DicomFile, Framing, OpenOptions};
