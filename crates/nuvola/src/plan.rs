//! `nuvola plan`: where a deployment would go and why, computed offline
//! against a data directory's federation registry (or the configuration's
//! providers when it has none), with that directory's usage and health.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use nuvola_app::PlanQuery;
use nuvola_store::{Store, StoreOptions};
use nuvola_tosca::{FsResolver, ImportMap, ImportResolver, Layered, builtin_resolver};

use crate::config::Config;

/// Options of `nuvola plan`.
#[derive(clap::Args)]
pub struct PlanArgs {
    /// Catalogue id (e.g. gpu-vm) or path to a .yaml template.
    pub what: String,
    /// The group the deployment would belong to.
    #[arg(long)]
    pub group: String,
    /// Template input, KEY=VALUE; repeatable.
    #[arg(long = "param", short = 'p')]
    pub params: Vec<String>,
    /// TSV of `url_prefix  local_path` for the template's imports.
    #[arg(long)]
    pub import_map: Option<PathBuf>,
    #[arg(long, env = "NUVOLA_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "NUVOLA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The deployment's timeout (maintenance must not overlap it).
    #[arg(long)]
    pub timeout_mins: Option<i64>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: crate::Output,
}

/// Runs `nuvola plan`; true when at least one provider fits.
pub async fn run(args: PlanArgs) -> Result<bool> {
    let config = Config::load(args.config.as_deref())?;
    let data_dir = config.data_dir(args.data_dir.as_deref());
    let store = open_store(&config, &data_dir).await?;
    let mut providers = store.providers().await?;
    if providers.is_empty() {
        providers = config.providers.clone();
    }

    // A template file on the user's own machine may import files beside it.
    let own_folder = Path::new(&args.what)
        .is_file()
        .then(|| Path::new(&args.what).parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")));
    let mut resolver = Layered::new().with(builtin_resolver());
    let maps = [config.tosca.import_map.as_ref(), args.import_map.as_ref()].into_iter().flatten();
    for map in maps {
        let map = ImportMap::from_file(map).map_err(|e| anyhow::anyhow!("import map {}: {e}", map.display()))?;
        let mut fs = FsResolver::new(map);
        if let Some(dir) = own_folder {
            fs = fs.allow_files_under(dir);
        }
        resolver = resolver.with(fs);
    }
    if let Some(dir) = own_folder {
        resolver = resolver.with(FsResolver::new(ImportMap::new()).allow_files_under(dir));
    }
    let resolver: Arc<dyn ImportResolver> = Arc::new(resolver);
    let catalogue = nuvola_app::Catalogue::builtin(&*resolver)?;
    let given = crate::client::parse_params(&args.params)?;
    let (source, text, parameters) = if Path::new(&args.what).is_file() {
        let text = std::fs::read_to_string(&args.what).with_context(|| format!("cannot read {}", args.what))?;
        (args.what.clone(), text, given)
    } else {
        let entry = catalogue.get(&args.what)?;
        (format!("{}.yaml", args.what), entry.template.clone(), entry.for_planning(&given))
    };
    let settings = config.settings();
    let requirements = nuvola_tosca::deployment::compile(
        &*resolver,
        settings.max_template_bytes,
        &source,
        &text,
        &parameters,
        nuvola_tosca::deployment::Undeclared::Refuse,
    )?
    .requirements;
    let query = PlanQuery {
        requirements: &requirements,
        group: &args.group,
        pinned: None,
        issuer: None,
        timeout_mins: args.timeout_mins.unwrap_or(settings.default_timeout_mins),
        minus: None,
    };
    let facts = nuvola_app::planning::Facts::from_store(&store, &args.group).await?;
    let plan = nuvola_app::planning::plan(&providers, &query, facts, &settings.weights);
    if args.format == crate::Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "requirements": requirements, "plan": plan }))?
        );
    } else if plan.candidates.is_empty() {
        println!("{}", plan.no_fit_message());
    } else {
        print!("{}", nuvola_placement::explain(&plan));
    }
    Ok(!plan.candidates.is_empty())
}

/// The data directory's database when it has one (usage and health come
/// from it), else an empty one in memory.
async fn open_store(config: &Config, data_dir: &Path) -> Result<Store> {
    let file = data_dir.join("nuvola.sqlite");
    let url = match &config.database_url {
        Some(url) => url.clone(),
        None if file.exists() => format!("sqlite://{}", file.display()),
        None => "sqlite::memory:".to_string(),
    };
    let options = StoreOptions { schema: config.database_schema.clone(), max_connections: 1, ..StoreOptions::new(url) };
    Store::open(options).await.context("cannot open the database")
}
