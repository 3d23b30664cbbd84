//! Flavor choice for one node: the smallest flavor that fits, or a reason
//! naming the dimension that no flavor satisfies and what the provider has
//! on that dimension.

use nuvola_types::{ComputeRequirement, Flavor};

use crate::offered;

/// One thing a node asks of a flavor, in the order the filters apply.
#[derive(Debug, Clone, Copy)]
enum Need<'r> {
    Gpus(u32),
    GpuVendor(&'r str),
    GpuModel(&'r str),
    Infiniband,
    Vcpus(u32),
    RamMb(u64),
    DiskGb(u64),
}

/// A node's needs, kept on the stack: placement asks for them once per
/// provider, so they must not cost an allocation.
struct Needs<'r> {
    list: [Need<'r>; 7],
    len: usize,
}

impl<'r> Needs<'r> {
    fn push(&mut self, need: Need<'r>) {
        self.list[self.len] = need;
        self.len += 1;
    }

    fn as_slice(&self) -> &[Need<'r>] {
        &self.list[..self.len]
    }
}

impl<'r> Need<'r> {
    /// What `node` asks for, GPUs first, then vCPUs, RAM and disk; absent
    /// and zero amounts ask for nothing.
    fn of(node: &'r ComputeRequirement) -> Needs<'r> {
        let mut needs = Needs { list: [Need::Gpus(0); 7], len: 0 };
        if node.gpus > 0 {
            needs.push(Need::Gpus(node.gpus));
        }
        // A blank vendor or model is no preference (INFN Cloud templates
        // default `gpu_model` to "").
        if let Some(vendor) = node.gpu_vendor.as_deref().filter(|v| !v.trim().is_empty()) {
            needs.push(Need::GpuVendor(vendor));
        }
        if let Some(model) = node.gpu_model.as_deref().filter(|m| !m.trim().is_empty()) {
            needs.push(Need::GpuModel(model));
        }
        if node.infiniband {
            needs.push(Need::Infiniband);
        }
        if let Some(cpus) = node.cpus.filter(|&n| n > 0) {
            needs.push(Need::Vcpus(cpus));
        }
        if let Some(mem) = node.mem_mb.filter(|&n| n > 0) {
            needs.push(Need::RamMb(mem));
        }
        if let Some(disk) = node.disk_gb.filter(|&n| n > 0) {
            needs.push(Need::DiskGb(disk));
        }
        needs
    }

    /// Whether `flavor` satisfies this need.
    fn fits(self, flavor: &Flavor) -> bool {
        let same = |have: &Option<String>, want: &str| {
            flavor.gpus > 0 && have.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(want))
        };
        match self {
            Need::Gpus(n) => flavor.gpus >= n,
            Need::GpuVendor(vendor) => same(&flavor.gpu_vendor, vendor),
            Need::GpuModel(model) => same(&flavor.gpu_model, model),
            Need::Infiniband => flavor.infiniband,
            Need::Vcpus(n) => flavor.vcpus >= n,
            Need::RamMb(n) => flavor.ram_mb >= n,
            Need::DiskGb(n) => flavor.disk_gb >= n,
        }
    }

    /// The need as a phrase, e.g. "4 GPUs" or "GPU model A100".
    fn wanted(self) -> String {
        match self {
            Need::Gpus(n) => format!("{n} GPU{}", plural(u64::from(n))),
            Need::GpuVendor(vendor) => format!("GPU vendor {vendor}"),
            Need::GpuModel(model) => format!("GPU model {model}"),
            Need::Infiniband => "InfiniBand".to_owned(),
            Need::Vcpus(n) => format!("{n} vCPU{}", plural(u64::from(n))),
            Need::RamMb(n) => format!("{n} MiB RAM"),
            Need::DiskGb(n) => format!("{n} GiB disk"),
        }
    }

    /// Whether satisfying `self` already satisfies `other`, so that `other`
    /// adds nothing to a message about `self` (a GPU model implies one GPU).
    fn implies(self, other: Need<'_>) -> bool {
        matches!((self, other), (Need::GpuVendor(_) | Need::GpuModel(_), Need::Gpus(1)))
    }

    /// What one flavor has on this dimension, e.g. "1 vCPU", "GPU model T4".
    fn had_by(self, flavor: &Flavor) -> String {
        match self {
            Need::Gpus(_) => format!("{} GPU{}", flavor.gpus, plural(u64::from(flavor.gpus))),
            Need::GpuVendor(_) => match (&flavor.gpu_vendor, flavor.gpus) {
                (Some(vendor), 1..) => format!("GPU vendor {vendor}"),
                _ => "no GPU vendor".to_owned(),
            },
            Need::GpuModel(_) => match (&flavor.gpu_model, flavor.gpus) {
                (Some(model), 1..) => format!("GPU model {model}"),
                _ => "no GPU model".to_owned(),
            },
            Need::Infiniband => "no InfiniBand".to_owned(),
            Need::Vcpus(_) => format!("{} vCPU{}", flavor.vcpus, plural(u64::from(flavor.vcpus))),
            Need::RamMb(_) => format!("{} MiB RAM", flavor.ram_mb),
            Need::DiskGb(_) => format!("{} GiB disk", flavor.disk_gb),
        }
    }

    /// What a set of flavors offers on this dimension, e.g. "has T4, V100"
    /// or "has up to 8 vCPUs".
    fn offered_by(self, flavors: &[&Flavor]) -> String {
        let gpu_flavors = || flavors.iter().filter(|f| f.gpus > 0);
        match self {
            Need::Gpus(_) => match flavors.iter().map(|f| f.gpus).max().unwrap_or(0) {
                0 => "has no GPU flavors".to_owned(),
                max => format!("has up to {max} GPU{}", plural(u64::from(max))),
            },
            Need::GpuVendor(_) => offered(gpu_flavors().filter_map(|f| f.gpu_vendor.clone())),
            Need::GpuModel(_) => offered(gpu_flavors().filter_map(|f| f.gpu_model.clone())),
            Need::Infiniband => "none has it".to_owned(),
            Need::Vcpus(_) => {
                let max = flavors.iter().map(|f| f.vcpus).max().unwrap_or(0);
                format!("has up to {max} vCPU{}", plural(u64::from(max)))
            }
            Need::RamMb(_) => {
                let max = flavors.iter().map(|f| f.ram_mb).max().unwrap_or(0);
                format!("has up to {max} MiB")
            }
            Need::DiskGb(_) => {
                let max = flavors.iter().map(|f| f.disk_gb).max().unwrap_or(0);
                format!("has up to {max} GiB")
            }
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The smallest of `flavors` that fits `node`, by (GPUs, vCPUs, RAM, disk,
/// name); or why none does.
pub(crate) fn choose<'f>(
    node: &ComputeRequirement,
    flavors: &'f [Flavor],
    by_size: Option<&[u32]>,
) -> Result<&'f Flavor, String> {
    if flavors.is_empty() {
        return Err("no flavors on offer".to_owned());
    }
    let needs = Need::of(node);
    let needs = needs.as_slice();

    if let Some(name) = node.instance_type.as_deref() {
        let Some(flavor) = flavors.iter().find(|f| f.name == name) else {
            return Err(format!(
                "no flavor named {name} (instance_type; {})",
                offered(flavors.iter().map(|f| f.name.clone()))
            ));
        };
        let unmet: Vec<Need<'_>> = needs.iter().copied().filter(|n| !n.fits(flavor)).collect();
        if unmet.is_empty() {
            return Ok(flavor);
        }
        let had: Vec<String> = unmet.iter().map(|n| n.had_by(flavor)).collect();
        let wanted: Vec<String> = unmet.iter().map(|n| n.wanted()).collect();
        return Err(format!("flavor {name} (instance_type) has {}; {} requested", had.join(", "), wanted.join(", ")));
    }

    // The common case, without allocating: some flavor meets every need.
    // The numeric needs are checked first, all at once; the few flavors
    // that pass are checked in full. With the flavors' order by size the
    // first that fits is the smallest.
    let floor = (node.gpus, node.cpus.unwrap_or(0), node.mem_mb.unwrap_or(0), node.disk_gb.unwrap_or(0));
    let fits = |f: &Flavor| {
        f.gpus >= floor.0
            && f.vcpus >= floor.1
            && f.ram_mb >= floor.2
            && f.disk_gb >= floor.3
            && needs.iter().all(|n| n.fits(f))
    };
    let best = match by_size {
        Some(order) if order.len() == flavors.len() => order.iter().map(|&i| &flavors[i as usize]).find(|f| fits(f)),
        _ => {
            let mut best: Option<&Flavor> = None;
            for f in flavors {
                let smaller = best.is_none_or(|b| size(f).cmp(&size(b)).then_with(|| f.name.cmp(&b.name)).is_lt());
                if smaller && fits(f) {
                    best = Some(f);
                }
            }
            best
        }
    };
    if let Some(flavor) = best {
        return Ok(flavor);
    }
    // None does: narrow need by need to say which one no flavor meets.
    let mut fitting: Vec<&Flavor> = flavors.iter().collect();
    let mut narrowed_by: Vec<Need<'_>> = Vec::new();
    for &need in needs {
        let next: Vec<&Flavor> = fitting.iter().copied().filter(|f| need.fits(f)).collect();
        if next.is_empty() {
            let context: Vec<String> =
                narrowed_by.iter().filter(|earlier| !need.implies(**earlier)).map(|earlier| earlier.wanted()).collect();
            let among = if context.is_empty() {
                String::new()
            } else {
                format!(" among flavors with {}", context.join(" and "))
            };
            return Err(format!("no flavor with {} ({}{among})", need.wanted(), need.offered_by(&fitting)));
        }
        if next.len() < fitting.len() {
            narrowed_by.push(need);
        }
        fitting = next;
    }
    fitting
        .into_iter()
        .min_by(|a, b| size(a).cmp(&size(b)).then_with(|| a.name.cmp(&b.name)))
        .ok_or_else(|| "no flavor fits".to_owned())
}

/// The indices of `flavors` from smallest to largest (ties by name): give
/// it to placement in a [`crate::ProviderSnapshot`] to skip most flavors.
pub fn order_by_size(flavors: &[Flavor]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..flavors.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&flavors[a as usize], &flavors[b as usize]);
        size(a).cmp(&size(b)).then_with(|| a.name.cmp(&b.name))
    });
    order
}

/// The order "smallest" means: GPUs, then vCPUs, then RAM, then disk.
fn size(flavor: &Flavor) -> (u32, u32, u64, u64) {
    (flavor.gpus, flavor.vcpus, flavor.ram_mb, flavor.disk_gb)
}
