//! The type files built into nuvola, served by the URLs templates import
//! them by: the INDIGO custom types (`indigo-dc/tosca-types` on GitHub, at
//! `master` and `devel`) and the INFN Cloud types (`infn-cloud/tosca-types`
//! on baltig.infn.it, release v3.4.0, by its `raw/` and `/-/raw/` URLs).
//!
//! A template may name a ref that is not vendored: another release, a
//! branch, a tag. It gets the nearest vendored release instead (see
//! [`nearest`]), and the loader warns (`W-IMPORT-VERSION`) with the ref
//! asked and the one used; an import map entry for the exact URL wins over
//! such a stand-in (see [`super::Layered`]).

use super::{ImportResolver, Imported, is_url, join_url};

/// One repository of type files, vendored at one or more refs.
struct Family {
    /// What the user reads, e.g. "the INFN Cloud types".
    name: &'static str,
    /// A file's URL is one of these, then the ref, `/`, the file's path in
    /// the repository; the first is the form used in canonical names.
    prefixes: &'static [&'static str],
    /// The vendored refs, the newest release first: it stands in for refs
    /// that are not versions, and for every ref when none is a version.
    refs: &'static [Vendored],
}

/// The files of one repository at one ref.
struct Vendored {
    /// The ref as URLs write it: a release tag (`v3.4.0`) or a branch.
    git_ref: &'static str,
    /// Path in the repository → text.
    files: &'static [(&'static str, &'static str)],
}

impl Family {
    /// The canonical URL of `path` at `vendored`.
    fn url(&self, vendored: &Vendored, path: &str) -> String {
        format!("{}{}/{path}", self.prefixes[0], vendored.git_ref)
    }

    /// The ref and path `url` names in this family, if it is one of its URLs.
    fn split<'u>(&self, url: &'u str) -> Option<(&'u str, &'u str)> {
        let rest = self.prefixes.iter().find_map(|p| url.strip_prefix(p))?;
        // GitLab's raw links may carry `?ref_type=heads` or `?inline=false`.
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        rest.split_once('/').filter(|(r, p)| !r.is_empty() && !p.is_empty())
    }

    /// The vendored ref serving `asked`: itself when vendored, else the nearest.
    fn serving(&self, asked: &str) -> &Vendored {
        if let Some(v) = self.refs.iter().find(|v| v.git_ref == asked) {
            return v;
        }
        let refs: Vec<&str> = self.refs.iter().map(|v| v.git_ref).collect();
        nearest(&refs, asked).and_then(|r| self.refs.iter().find(|v| v.git_ref == r)).unwrap_or(&self.refs[0])
    }

    /// The files vendored at `vendored`, listed for a message.
    fn listing(&self, vendored: &Vendored) -> String {
        let files: Vec<&str> = vendored.files.iter().map(|(p, _)| *p).collect();
        format!("{} at {}: {}", self.name, vendored.git_ref, files.join(", "))
    }
}

/// A version read from a ref: `v3.4.0`, `3.4`, `v4` → (major, minor, patch).
fn version(git_ref: &str) -> Option<(u64, u64, u64)> {
    let digits = git_ref.strip_prefix(['v', 'V']).unwrap_or(git_ref);
    let mut parts = digits.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().unwrap_or(Some(0))?;
    let patch = parts.next().unwrap_or(Some(0))?;
    parts.next().is_none().then_some((major, minor, patch))
}

/// Of the vendored refs `vendored`, the one nearest to `asked`: for a
/// version, the vendored version closest to it (fewest majors apart, then
/// minors, then patches; the newer on a tie); for a branch, or when no
/// vendored ref is a version, `None` (the caller uses its default ref).
pub(crate) fn nearest<'v>(vendored: &[&'v str], asked: &str) -> Option<&'v str> {
    let wanted = version(asked)?;
    vendored
        .iter()
        .filter_map(|r| version(r).map(|v| (*r, v)))
        .min_by_key(|(_, v)| {
            let major = v.0.abs_diff(wanted.0);
            let minor = if major == 0 { v.1.abs_diff(wanted.1) } else { 0 };
            let patch = if major == 0 && minor == 0 { v.2.abs_diff(wanted.2) } else { 0 };
            (major, minor, patch, std::cmp::Reverse(*v))
        })
        .map(|(r, _)| r)
}

/// INDIGO-DataCloud's custom types, one file at two branches.
const INDIGO: Family = Family {
    name: "the INDIGO custom types (indigo-dc/tosca-types)",
    prefixes: &["https://raw.githubusercontent.com/indigo-dc/tosca-types/"],
    refs: &[
        Vendored {
            git_ref: "master",
            files: &[("custom_types.yaml", include_str!("../../vendor/indigo-dc-tosca-types/custom_types.yaml"))],
        },
        Vendored {
            git_ref: "devel",
            files: &[(
                "custom_types.yaml",
                include_str!("../../vendor/indigo-dc-tosca-types/_refs/devel/custom_types.yaml"),
            )],
        },
    ],
};

/// The INFN Cloud types: the thirteen files of `tosca_types/` at a release.
macro_rules! infn_release {
    ($version:literal, [$($path:literal),* $(,)?]) => {
        Vendored {
            git_ref: $version,
            files: &[$((
                $path,
                include_str!(concat!("../../vendor/infn-cloud-tosca-types/", $version, "/", $path)),
            )),*],
        }
    };
}

const INFN_CLOUD: Family = Family {
    name: "the INFN Cloud types (infn-cloud/tosca-types)",
    prefixes: &[
        "https://baltig.infn.it/infn-cloud/tosca-types/raw/",
        "https://baltig.infn.it/infn-cloud/tosca-types/-/raw/",
    ],
    refs: &[infn_release!(
        "v3.4.0",
        [
            "tosca_types/base/basic_types.yaml",
            "tosca_types/base/cluster_basic_types.yaml",
            "tosca_types/infrastructure/docker_types.yaml",
            "tosca_types/infrastructure/docker_runtime_types.yaml",
            "tosca_types/infrastructure/kubernetes_types.yaml",
            "tosca_types/infrastructure/mesos_types.yaml",
            "tosca_types/applications/elastic_types.yaml",
            "tosca_types/applications/htcondor_mini_types.yaml",
            "tosca_types/applications/htcondor_types.yaml",
            "tosca_types/applications/iam_types.yaml",
            "tosca_types/applications/jupyter_types.yaml",
            "tosca_types/applications/spark_types.yaml",
            "tosca_types/applications/storage_apps_types.yaml",
        ]
    )],
};

const FAMILIES: &[Family] = &[INDIGO, INFN_CLOUD];

/// What [`BuiltinResolver`] says of an import it does not serve.
pub(super) const NOT_BUILTIN: &str = "is not one of the built-in type files";

/// Serves the vendored INDIGO and INFN Cloud types by URL, at any ref:
/// a ref that is not vendored gets a stand-in (see the module's note).
#[derive(Debug, Clone, Copy, Default)]
pub struct BuiltinResolver;

impl BuiltinResolver {
    /// The canonical URLs of the built-in files.
    pub fn urls(&self) -> impl Iterator<Item = String> {
        FAMILIES.iter().flat_map(|f| f.refs.iter().flat_map(move |v| v.files.iter().map(move |(p, _)| f.url(v, p))))
    }
}

impl ImportResolver for BuiltinResolver {
    fn load(&self, importer: &str, import: &str) -> Result<Imported, String> {
        let url = if is_url(import) {
            import.to_owned()
        } else if is_url(importer) {
            join_url(importer, import).unwrap_or_default()
        } else {
            import.to_owned()
        };
        let Some((family, asked, path)) = FAMILIES.iter().find_map(|f| f.split(&url).map(|(r, p)| (f, r, p))) else {
            let families: Vec<&str> = FAMILIES.iter().map(|f| f.prefixes[0]).collect();
            return Err(format!("import \"{url}\" {NOT_BUILTIN} (those are under {})", families.join(", ")));
        };
        let serving = family.serving(asked);
        let Some((_, text)) = serving.files.iter().find(|(p, _)| *p == path) else {
            return Err(format!("import \"{url}\" {NOT_BUILTIN} ({})", family.listing(serving)));
        };
        let name = family.url(serving, path);
        if serving.git_ref == asked {
            return Ok(Imported::new(name, *text));
        }
        let why = match (version(asked), version(serving.git_ref)) {
            (Some(_), Some(_)) => "the nearest release built in",
            (None, Some(_)) => "the newest release built in",
            (_, None) => "what nuvola has built in",
        };
        Ok(Imported::stand_in(
            name,
            *text,
            format!(
                "{} at {asked} are not built into nuvola; using {} ({why}); to use other files, map this URL in the import map",
                family.name, serving.git_ref
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_release() {
        let vendored = ["v1.0.1", "v2.5.0", "v2.10.0", "v3.4.0"];
        assert_eq!(nearest(&vendored, "v2.8.0"), Some("v2.10.0"));
        assert_eq!(nearest(&vendored, "v2.6.0"), Some("v2.5.0"));
        assert_eq!(nearest(&vendored, "v2.5.3"), Some("v2.5.0"));
        assert_eq!(nearest(&vendored, "v1.0.0"), Some("v1.0.1"));
        assert_eq!(nearest(&vendored, "v5.1.0"), Some("v3.4.0"));
        assert_eq!(nearest(&vendored, "3.4"), Some("v3.4.0"));
        // Two majors apart either way: the newer.
        assert_eq!(nearest(&["v1.0.0", "v5.0.0"], "v3.0.0"), Some("v5.0.0"));
        // A branch or a tag that is no version: the caller's default.
        assert_eq!(nearest(&vendored, "master"), None);
        assert_eq!(nearest(&vendored, "v3.4.0-rc1"), None);
        assert_eq!(nearest(&["master", "devel"], "v3.0.1"), None);
    }

    #[test]
    fn every_vendored_file_is_served_at_its_own_ref() {
        for url in BuiltinResolver.urls() {
            let found = BuiltinResolver.load("t.yaml", &url).unwrap();
            assert_eq!(found.name, url);
            assert!(found.stand_in.is_none(), "{url}");
            assert!(found.text.starts_with("tosca_definitions_version:"), "{url}");
        }
        assert_eq!(BuiltinResolver.urls().count(), 15);
    }

    #[test]
    fn other_refs_and_forms_get_a_stand_in() {
        let canonical = "https://baltig.infn.it/infn-cloud/tosca-types/raw/v3.4.0/tosca_types/base/basic_types.yaml";
        for (url, note) in [
            ("https://baltig.infn.it/infn-cloud/tosca-types/-/raw/v3.4.0/tosca_types/base/basic_types.yaml", None),
            (
                "https://baltig.infn.it/infn-cloud/tosca-types/raw/v3.4.0/tosca_types/base/basic_types.yaml?ref_type=tags",
                None,
            ),
            (
                "https://baltig.infn.it/infn-cloud/tosca-types/raw/v2.8.0/tosca_types/base/basic_types.yaml",
                Some("v2.8.0"),
            ),
            (
                "https://baltig.infn.it/infn-cloud/tosca-types/-/raw/master/tosca_types/base/basic_types.yaml",
                Some("master"),
            ),
        ] {
            let found = BuiltinResolver.load("t.yaml", url).unwrap();
            assert_eq!(found.name, canonical, "{url}");
            match note {
                None => assert_eq!(found.stand_in, None, "{url}"),
                Some(asked) => {
                    let said = found.stand_in.unwrap();
                    assert!(said.contains(&format!("at {asked} are not built into nuvola; using v3.4.0")), "{said}");
                }
            }
        }
        let indigo = BuiltinResolver
            .load("t.yaml", "https://raw.githubusercontent.com/indigo-dc/tosca-types/v3.0.1/custom_types.yaml")
            .unwrap();
        assert_eq!(indigo.name, "https://raw.githubusercontent.com/indigo-dc/tosca-types/master/custom_types.yaml");
        assert!(indigo.stand_in.unwrap().contains("at v3.0.1 are not built into nuvola; using master"));
    }

    #[test]
    fn files_not_vendored_are_refused() {
        let e = BuiltinResolver
            .load("t.yaml", "https://baltig.infn.it/infn-cloud/tosca-types/raw/v3.4.0/custom_types.yaml")
            .unwrap_err();
        assert!(e.contains(NOT_BUILTIN) && e.contains("tosca_types/base/basic_types.yaml"), "{e}");
        for url in [
            "https://evil/x.yaml",
            "https://baltig.infn.it/infn-cloud/tosca-types/raw/v3.4.0/",
            "https://baltig.infn.it/fornari/tosca-types/-/raw/master/tosca_types/base/basic_types.yaml",
        ] {
            assert!(BuiltinResolver.load("t.yaml", url).unwrap_err().contains(NOT_BUILTIN), "{url}");
        }
    }
}
