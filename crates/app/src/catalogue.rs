//! The built-in catalogue: TOSCA templates shipped in the binary (from the
//! repository's `catalogue/` folder), each validated at start-up.

use nuvola_tosca::{ImportResolver, InputDef, ServiceTemplate};
use nuvola_types::{Error, Result};
use serde::Serialize;

/// The templates compiled in, as `(file name, text)`.
const BUILTIN: &[(&str, &str)] = &[
    ("single-vm.yaml", include_str!("../../../catalogue/single-vm.yaml")),
    ("vm-with-volume.yaml", include_str!("../../../catalogue/vm-with-volume.yaml")),
    ("docker-compose.yaml", include_str!("../../../catalogue/docker-compose.yaml")),
    ("jupyter-persistent.yaml", include_str!("../../../catalogue/jupyter-persistent.yaml")),
    ("gpu-vm.yaml", include_str!("../../../catalogue/gpu-vm.yaml")),
];

/// One service users can deploy.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueEntry {
    /// Stable id (the file stem), used in URLs and `nuvola deploy`.
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub icon: String,
    /// The template's inputs, for forms and `--param` help.
    pub inputs: Vec<InputDef>,
    /// The TOSCA text.
    #[serde(skip)]
    pub template: String,
}

/// Every deployable service.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    entries: Vec<CatalogueEntry>,
}

impl Catalogue {
    /// Loads and validates the built-in templates.
    pub fn builtin(resolver: &dyn ImportResolver) -> Result<Self> {
        let mut entries = Vec::new();
        for (file, text) in BUILTIN {
            let template = nuvola_tosca::load(text, file, resolver)
                .map_err(|d| Error::internal(format!("built-in catalogue template {file} is invalid:\n{d}")))?;
            entries.push(entry(file, text, &template));
        }
        Ok(Self { entries })
    }

    /// All entries, in catalogue order.
    pub fn entries(&self) -> &[CatalogueEntry] {
        &self.entries
    }

    /// One entry by id, or a NotFound naming the ids that exist.
    pub fn get(&self, id: &str) -> Result<&CatalogueEntry> {
        self.entries.iter().find(|e| e.id == id).ok_or_else(|| {
            let known: Vec<&str> = self.entries.iter().map(|e| e.id.as_str()).collect();
            Error::not_found(format!("no catalogue service {id:?} (known: {})", known.join(", ")))
        })
    }
}

fn entry(file: &str, text: &str, template: &ServiceTemplate) -> CatalogueEntry {
    let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
    let meta = |key: &str| template.metadata().get(key).cloned();
    CatalogueEntry {
        id: meta("template_name").unwrap_or_else(|| stem.to_string()),
        name: meta("display_name").unwrap_or_else(|| stem.to_string()),
        description: meta("description").or_else(|| template.description().map(str::to_string)).unwrap_or_default(),
        category: meta("category").unwrap_or_else(|| "Other".into()),
        icon: meta("icon").unwrap_or_else(|| "server".into()),
        inputs: template.inputs().values().cloned().collect(),
        template: text.to_string(),
    }
}
