//! The palm dataset layout (DESIGN.md contract):
//! `DIR/<identity>/<sample>.print.<png|bmp|jpg>` and/or `DIR/<identity>/<sample>.vein.<ext>`.
//!
//! One folder per identity (a palm); a sample with both files is one paired capture. Folders and
//! files whose name starts with a dot are skipped, so tools can keep side data next to the
//! identities: the synthetic generator writes its presentation attacks to `DIR/.attacks/...`
//! (which has the same layout below it) and they are never mistaken for enrolled palms.
//! Listing is sorted by name, so every run sees the same order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::capture::{encode_png, Capture, CaptureError};

/// Which light a dataset image was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Modality {
    /// Visible light: the palm print.
    Print,
    /// Near-infrared: the palm veins.
    Vein,
}

impl Modality {
    /// The infix in file names: `<sample>.<infix>.<ext>`.
    pub fn infix(self) -> &'static str {
        match self {
            Modality::Print => "print",
            Modality::Vein => "vein",
        }
    }
}

/// Why a dataset could not be listed or written.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("cannot read dataset directory {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no identity folders with <sample>.print|vein.<png|bmp|jpg> images")]
    Empty { path: PathBuf },
    #[error("identity {identity}, sample {sample}: two {modality} images ({first} and {second})")]
    DuplicateImage {
        identity: String,
        sample: String,
        modality: &'static str,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("invalid {what} name {name:?}: must be non-empty, without '/', '\\' or a leading '.'")]
    InvalidName { what: &'static str, name: String },
    #[error("a sample needs at least one image (print or vein) to be written")]
    NothingToWrite,
    #[error("not supported: {0}")]
    Unsupported(&'static str),
}

/// One sample: the image files of one presentation of a palm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleEntry {
    /// The identity folder name.
    pub identity: String,
    /// The sample name (the file name up to `.print.` / `.vein.`).
    pub name: String,
    pub print: Option<PathBuf>,
    pub vein: Option<PathBuf>,
}

impl SampleEntry {
    /// True when both a print and a vein image exist for this sample.
    pub fn is_paired(&self) -> bool {
        self.print.is_some() && self.vein.is_some()
    }

    /// The image path of one modality, if present.
    pub fn path(&self, modality: Modality) -> Option<&Path> {
        match modality {
            Modality::Print => self.print.as_deref(),
            Modality::Vein => self.vein.as_deref(),
        }
    }

    /// Decodes this sample's images.
    pub fn load(&self) -> Result<Capture, CaptureError> {
        Capture::load(self.print.as_deref(), self.vein.as_deref())
    }
}

/// One identity (a palm) and its samples, sorted by sample name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityEntry {
    pub name: String,
    pub samples: Vec<SampleEntry>,
}

/// A listed dataset directory.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
    identities: Vec<IdentityEntry>,
}

impl Dataset {
    /// Lists `root`: identity folders (dot-folders skipped) with at least one sample image.
    /// Files that do not follow the layout are ignored; an empty dataset is an error.
    pub fn open(root: &Path) -> Result<Self, DatasetError> {
        let mut identities = Vec::new();
        for (name, path) in sorted_entries(root)? {
            if name.starts_with('.') || !path.is_dir() {
                continue;
            }
            let samples = list_samples(&name, &path)?;
            if samples.is_empty() {
                tracing::debug!(folder = %path.display(), "no sample images; skipped");
                continue;
            }
            identities.push(IdentityEntry { name, samples });
        }
        if identities.is_empty() {
            return Err(DatasetError::Empty {
                path: root.to_path_buf(),
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            identities,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Identities in name order.
    pub fn identities(&self) -> &[IdentityEntry] {
        &self.identities
    }

    /// All samples, identity by identity.
    pub fn samples(&self) -> impl Iterator<Item = &SampleEntry> {
        self.identities.iter().flat_map(|i| i.samples.iter())
    }

    /// Total number of samples.
    pub fn sample_count(&self) -> usize {
        self.identities.iter().map(|i| i.samples.len()).sum()
    }

    /// Finds one sample by identity and sample name.
    pub fn sample(&self, identity: &str, sample: &str) -> Option<&SampleEntry> {
        self.identities
            .iter()
            .find(|i| i.name == identity)?
            .samples
            .iter()
            .find(|s| s.name == sample)
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, DatasetError> {
    let read_err = |source| DatasetError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        // Non-UTF-8 names cannot be identities or samples in this layout.
        if let Ok(name) = entry.file_name().into_string() {
            out.push((name, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Splits `<sample>.<print|vein>.<png|bmp|jpg|jpeg>` (extension case-insensitive).
fn parse_image_name(file: &str) -> Option<(&str, Modality)> {
    let (stem, ext) = file.rsplit_once('.')?;
    if !matches!(
        ext.to_ascii_lowercase().as_str(),
        "png" | "bmp" | "jpg" | "jpeg"
    ) {
        return None;
    }
    let (sample, infix) = stem.rsplit_once('.')?;
    let modality = match infix {
        "print" => Modality::Print,
        "vein" => Modality::Vein,
        _ => return None,
    };
    (!sample.is_empty()).then_some((sample, modality))
}

fn list_samples(identity: &str, dir: &Path) -> Result<Vec<SampleEntry>, DatasetError> {
    let mut samples: BTreeMap<String, SampleEntry> = BTreeMap::new();
    for (file, path) in sorted_entries(dir)? {
        if file.starts_with('.') || !path.is_file() {
            continue;
        }
        let Some((sample, modality)) = parse_image_name(&file) else {
            continue;
        };
        let entry = samples
            .entry(sample.to_string())
            .or_insert_with(|| SampleEntry {
                identity: identity.to_string(),
                name: sample.to_string(),
                print: None,
                vein: None,
            });
        let slot = match modality {
            Modality::Print => &mut entry.print,
            Modality::Vein => &mut entry.vein,
        };
        if let Some(first) = slot.take() {
            return Err(DatasetError::DuplicateImage {
                identity: identity.to_string(),
                sample: sample.to_string(),
                modality: modality.infix(),
                first,
                second: path,
            });
        }
        *slot = Some(path);
    }
    Ok(samples.into_values().collect())
}

fn check_name(what: &'static str, name: &str) -> Result<(), DatasetError> {
    if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\']) {
        return Err(DatasetError::InvalidName {
            what,
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Writes a capture as `root/<identity>/<sample>.print.png` and/or `.vein.png`, creating folders.
pub fn write_sample(
    root: &Path,
    identity: &str,
    sample: &str,
    capture: &Capture,
) -> Result<(), DatasetError> {
    check_name("identity", identity)?;
    check_name("sample", sample)?;
    if capture.print.is_none() && capture.vein.is_none() {
        return Err(DatasetError::NothingToWrite);
    }
    let dir = root.join(identity);
    std::fs::create_dir_all(&dir).map_err(|source| DatasetError::Write {
        path: dir.clone(),
        source,
    })?;
    for (modality, image) in [
        (Modality::Print, &capture.print),
        (Modality::Vein, &capture.vein),
    ] {
        if let Some(image) = image {
            let path = dir.join(format!("{sample}.{}.png", modality.infix()));
            std::fs::write(&path, encode_png(image))
                .map_err(|source| DatasetError::Write { path, source })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma};

    fn img(v: u8) -> GrayImage {
        GrayImage::from_fn(16, 12, |x, y| Luma([v.wrapping_add((x + y) as u8)]))
    }

    #[test]
    fn write_then_list_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write_sample(root, "b", "01", &Capture::paired(img(1), img(2))).unwrap();
        write_sample(root, "a", "00", &Capture::paired(img(3), img(4))).unwrap();
        let print_only = Capture {
            print: Some(img(5)),
            vein: None,
        };
        write_sample(root, "a", "01", &print_only).unwrap();
        // Side data that must not be listed.
        write_sample(&root.join(".attacks/photo"), "a", "00", &print_only).unwrap();
        std::fs::write(root.join("a/notes.txt"), "x").unwrap();
        std::fs::write(root.join("a/00.depth.png"), "x").unwrap();
        std::fs::create_dir(root.join("empty")).unwrap();

        let ds = Dataset::open(root).unwrap();
        let names: Vec<_> = ds.identities().iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(ds.sample_count(), 3);
        let a00 = ds.sample("a", "00").unwrap();
        assert!(a00.is_paired());
        let loaded = a00.load().unwrap();
        assert_eq!(loaded.print.unwrap(), img(3));
        assert_eq!(loaded.vein.unwrap(), img(4));
        let a01 = ds.sample("a", "01").unwrap();
        assert!(!a01.is_paired() && a01.path(Modality::Print).is_some());
        assert!(a01.load().unwrap().vein.is_none());
    }

    #[test]
    fn accepts_other_formats_and_rejects_duplicates() {
        assert_eq!(
            parse_image_name("s1.2.vein.JPG"),
            Some(("s1.2", Modality::Vein))
        );
        assert_eq!(
            parse_image_name("x.print.bmp"),
            Some(("x", Modality::Print))
        );
        assert_eq!(parse_image_name(".print.png"), None);
        assert_eq!(parse_image_name("x.print.gif"), None);

        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("p1");
        std::fs::create_dir(&id).unwrap();
        std::fs::write(id.join("s.print.png"), b"").unwrap();
        std::fs::write(id.join("s.print.bmp"), b"").unwrap();
        let err = Dataset::open(dir.path()).unwrap_err();
        assert!(matches!(err, DatasetError::DuplicateImage { .. }), "{err}");
    }

    #[test]
    fn empty_dataset_and_bad_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Dataset::open(dir.path()),
            Err(DatasetError::Empty { .. })
        ));
        assert!(matches!(
            Dataset::open(&dir.path().join("missing")),
            Err(DatasetError::Read { .. })
        ));
        let cap = Capture::paired(img(0), img(0));
        for bad in ["", ".hidden", "a/b"] {
            assert!(write_sample(dir.path(), bad, "0", &cap).is_err());
            assert!(write_sample(dir.path(), "id", bad, &cap).is_err());
        }
    }
}
