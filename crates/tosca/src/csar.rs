//! CSAR archives (TOSCA Simple Profile 1.x, "TOSCA Cloud Service Archive"):
//! a ZIP file holding `TOSCA-Metadata/TOSCA.meta` whose `Entry-Definitions`
//! names the service template, or (TOSCA 1.1 and later) exactly one YAML
//! file at the archive's root. The archive is read in memory; imports are
//! served from inside it (relative to the importing file) and URLs go to the
//! outer resolver. Artifact files that templates name (interface
//! `implementation`, `dependencies`, `artifacts.*.file`) must be in the
//! archive, relative to the entry definitions' folder (as tosca-parser
//! reads them); URLs to artifacts are not fetched.
//!
//! The ZIP reader follows the PKWARE APPNOTE layout (end of central
//! directory, central directory, local headers) and supports the two
//! methods CSARs use: stored and deflate. Sizes are capped before anything
//! is inflated.

use std::collections::BTreeMap;

use crate::diagnostics::{Diagnostic, Diagnostics, Pos, codes};
use crate::imports::{ImportResolver, Imported, is_url};
use crate::template::{ServiceTemplate, load};
use crate::yaml::{Node, NodeValue};

/// Most bytes one archive member may inflate to.
const MAX_MEMBER_BYTES: usize = 8 << 20;
/// Most bytes all members together may inflate to.
const MAX_TOTAL_BYTES: usize = 32 << 20;
/// Most members an archive may have.
const MAX_MEMBERS: usize = 10_000;
/// The metadata file every TOSCA 1.0 CSAR has.
const META: &str = "TOSCA-Metadata/TOSCA.meta";

/// The files of a ZIP archive, by path inside it (folders left out).
pub(crate) fn read_zip(bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let u16_at = |o: usize| -> Result<usize, String> {
        bytes.get(o..o + 2).map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))).ok_or_else(truncated)
    };
    let u32_at = |o: usize| -> Result<usize, String> {
        bytes.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).ok_or_else(truncated)
    };
    // The end-of-central-directory record: 22 bytes plus a comment of up to 64 KiB.
    let lowest = bytes.len().saturating_sub(22 + 0xffff);
    let eocd = (lowest..bytes.len().saturating_sub(21))
        .rev()
        .find(|&o| bytes[o..o + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or("it is not a ZIP archive (no end-of-central-directory record)")?;
    let count = u16_at(eocd + 10)?;
    if count > MAX_MEMBERS {
        return Err(format!("it has {count} members; the limit is {MAX_MEMBERS}"));
    }
    let mut at = u32_at(eocd + 16)?;
    let mut files = BTreeMap::new();
    let mut total = 0usize;
    for _ in 0..count {
        if u32_at(at)? != 0x0201_4b50 {
            return Err("its central directory is damaged".into());
        }
        let method = u16_at(at + 10)?;
        let compressed = u32_at(at + 20)?;
        let size = u32_at(at + 24)?;
        let (name_len, extra_len, comment_len) = (u16_at(at + 28)?, u16_at(at + 30)?, u16_at(at + 32)?);
        let local = u32_at(at + 42)?;
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(truncated)?;
        let name = String::from_utf8_lossy(name).replace('\\', "/");
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        if size > MAX_MEMBER_BYTES || total + size > MAX_TOTAL_BYTES {
            return Err(format!(
                "member {name} is too large ({size} bytes; limits {MAX_MEMBER_BYTES} per member, {MAX_TOTAL_BYTES} in all)"
            ));
        }
        if u32_at(local)? != 0x0403_4b50 {
            return Err(format!("the local header of {name} is damaged"));
        }
        let start = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
        let data = bytes.get(start..start + compressed).ok_or_else(truncated)?;
        let content = match method {
            0 => data.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(data, size.max(1))
                .map_err(|e| format!("member {name} cannot be inflated: {e:?}"))?,
            m => {
                return Err(format!(
                    "member {name} uses compression method {m}; only stored and deflate are supported"
                ));
            }
        };
        total += content.len();
        files.insert(name, content);
    }
    Ok(files)
}

fn truncated() -> String {
    "it is truncated".into()
}

/// Joins `relative` onto the folder of `file` (both paths inside the
/// archive); `None` when `..` climbs above the archive's root.
fn join(file: &str, relative: &str) -> Option<String> {
    let mut parts: Vec<&str> = file.split('/').collect();
    parts.pop();
    if relative.starts_with('/') {
        parts.clear();
    }
    for seg in relative.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// Serves imports from inside an archive, and URLs through the outer resolver.
struct ArchiveResolver<'a> {
    archive: &'a str,
    files: &'a BTreeMap<String, Vec<u8>>,
    outer: &'a dyn ImportResolver,
}

impl ArchiveResolver<'_> {
    fn name(&self, inner: &str) -> String {
        format!("{}!/{inner}", self.archive)
    }

    fn inner<'n>(&self, name: &'n str) -> Option<&'n str> {
        name.strip_prefix(self.archive)?.strip_prefix("!/")
    }
}

impl ImportResolver for ArchiveResolver<'_> {
    fn load(&self, importer: &str, import: &str) -> Result<Imported, String> {
        let Some(base) = self.inner(importer).filter(|_| !is_url(import)) else {
            return self.outer.load(importer, import);
        };
        let path = join(base, import).ok_or_else(|| format!("\"{import}\" climbs above the archive's root"))?;
        let bytes = self.files.get(&path).ok_or_else(|| format!("the archive has no file {path}"))?;
        let text = String::from_utf8(bytes.clone()).map_err(|_| format!("{path} in the archive is not UTF-8 text"))?;
        Ok(Imported::new(self.name(&path), text))
    }
}

/// Loads the service template of a CSAR archive held in `bytes` (named
/// `archive` in diagnostics; members are named `archive!/path`).
pub fn load_csar(bytes: &[u8], archive: &str, resolver: &dyn ImportResolver) -> Result<ServiceTemplate, Diagnostics> {
    let whole =
        |code: &'static str, msg: String| Diagnostics::from(Diagnostic::error(archive, Pos::default(), code, msg));
    let files = read_zip(bytes).map_err(|e| whole(codes::CSAR, format!("{archive} is not a valid CSAR: {e}")))?;
    let entry = entry_definitions(archive, &files)?;
    let text = String::from_utf8(files[&entry].clone())
        .map_err(|_| whole(codes::CSAR, format!("the entry definitions {entry} are not UTF-8 text")))?;
    let inner = ArchiveResolver { archive, files: &files, outer: resolver };
    let name = inner.name(&entry);
    let template = load(&text, &name, &inner)?;
    let mut diags = Vec::new();
    for (reference, pos) in template.artifact_files() {
        if is_url(&reference) {
            continue;
        }
        let found = join(&entry, &reference).is_some_and(|p| files.contains_key(&p));
        if !found {
            diags.push(Diagnostic::error(
                &name,
                pos,
                codes::ARTIFACT,
                format!("artifact file \"{reference}\" is not in the archive (nor an artifact of the node template)"),
            ));
        }
    }
    if diags.is_empty() { Ok(template) } else { Err(Diagnostics(diags)) }
}

/// The path of the entry service template: `Entry-Definitions` of
/// `TOSCA-Metadata/TOSCA.meta`, or the single YAML file at the root.
fn entry_definitions(archive: &str, files: &BTreeMap<String, Vec<u8>>) -> Result<String, Diagnostics> {
    let error = |pos: Pos, msg: String| Diagnostics::from(Diagnostic::error(archive, pos, codes::CSAR, msg));
    if let Some(meta) = files.get(META) {
        let meta_name = format!("{archive}!/{META}");
        let text = String::from_utf8_lossy(meta);
        let doc = crate::yaml::parse(&text, &meta_name, &crate::yaml::Limits::default(), &mut Vec::new())
            .ok()
            .filter(|d| d.as_map().is_some())
            .ok_or_else(|| {
                Diagnostics::from(Diagnostic::error(
                    &meta_name,
                    Pos { line: 1, column: 1 },
                    codes::CSAR,
                    format!("{META} is not a YAML map of \"Keyname: value\" lines"),
                ))
            })?;
        let Some(entry) = doc.get("Entry-Definitions") else {
            return Err(Diagnostic::error(
                &meta_name,
                doc.pos,
                codes::CSAR,
                format!("{META} has no Entry-Definitions keyname naming the service template"),
            )
            .into());
        };
        let path = entry.scalar_text().unwrap_or_default();
        if !files.contains_key(&path) {
            return Err(Diagnostic::error(
                &meta_name,
                entry.pos,
                codes::CSAR,
                format!("Entry-Definitions names \"{path}\", which is not in the archive"),
            )
            .into());
        }
        return Ok(path);
    }
    let roots: Vec<&String> =
        files.keys().filter(|k| !k.contains('/') && (k.ends_with(".yaml") || k.ends_with(".yml"))).collect();
    match roots.as_slice() {
        [one] => {
            let text = String::from_utf8_lossy(&files[*one]);
            let version = crate::yaml::parse(&text, one, &crate::yaml::Limits::default(), &mut Vec::new())
                .ok()
                .and_then(|d| d.get("tosca_definitions_version").and_then(Node::scalar_text));
            match version.as_deref() {
                Some("tosca_simple_yaml_1_0") | Some("http://docs.oasis-open.org/tosca/ns/simple/yaml/1.0") => {
                    Err(error(
                        Pos::default(),
                        format!(
                            "{one} is TOSCA 1.0, where a CSAR must have {META}; add it with an Entry-Definitions line"
                        ),
                    ))
                }
                _ => Ok((*one).clone()),
            }
        }
        [] => Err(error(
            Pos::default(),
            format!("the archive has neither {META} nor a YAML service template at its root"),
        )),
        many => Err(error(
            Pos::default(),
            format!(
                "the archive has no {META} and {} YAML files at its root ({}); it must have exactly one",
                many.len(),
                many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

/// Collects artifact file references under an `interfaces` or `artifacts` value.
pub(crate) fn collect_artifact_files(node: &Node, artifacts: &[String], out: &mut Vec<(String, Pos)>) {
    let push = |n: &Node, out: &mut Vec<(String, Pos)>| {
        if let Some(s) = n.as_str()
            && !artifacts.iter().any(|a| a == s)
        {
            out.push((s.to_owned(), n.pos));
        }
    };
    match &node.value {
        NodeValue::Map(entries) => {
            for (k, v) in entries {
                match (k.name.as_str(), &v.value) {
                    ("implementation" | "primary" | "file" | "dependencies", NodeValue::Str(_)) => push(v, out),
                    ("dependencies", NodeValue::Seq(items)) => items.iter().for_each(|i| push(i, out)),
                    _ => collect_artifact_files(v, artifacts, out),
                }
            }
        }
        NodeValue::Seq(items) => items.iter().for_each(|i| collect_artifact_files(i, artifacts, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_inside_the_archive() {
        assert_eq!(join("Definitions/a.yaml", "../Scripts/x.sh").as_deref(), Some("Scripts/x.sh"));
        assert_eq!(join("a.yaml", "b/c.yaml").as_deref(), Some("b/c.yaml"));
        assert_eq!(join("a.yaml", "../x"), None);
    }

    #[test]
    fn not_a_zip() {
        assert!(read_zip(b"hello").unwrap_err().contains("not a ZIP"));
        assert!(read_zip(&[]).is_err());
    }
}
