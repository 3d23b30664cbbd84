//! Scaling an IM infrastructure to a request's node counts.
//!
//! IM 2.0 scales from the TOSCA posted to `/infrastructures/<id>`: it merges
//! that text into the TOSCA it stores, reads each Compute node's instance
//! count from the merged text (its `scalable` capability's `count`,
//! evaluated with `get_input` against the inputs' defaults, which is where
//! `template.rs` puts the deployment's inputs) and deploys the difference
//! with the VMs it holds for that node. It can remove VMs the same way, but
//! without a `removal_list` it removes the *oldest* ones, and not every
//! template's types declare `removal_list`. So the driver removes VMs
//! itself, highest VM id of a node first (IM numbers VMs in creation order,
//! never reusing an id), with `DELETE /infrastructures/<id>/vms/<ids>`, and
//! then posts the TOSCA, which adds what is missing and reconfigures.

use std::collections::BTreeMap;

use crate::NodeProvision;

/// What bringing an infrastructure to a request takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Scaling {
    /// VM ids to remove, highest of each node first.
    pub remove: Vec<String>,
    /// How many VMs IM must add, over all nodes.
    pub add: u32,
}

/// The scaling from the VMs IM holds (`held`: node → VM ids) to the
/// requested `nodes`. Nodes the request does not name are left alone.
pub(super) fn plan(nodes: &[NodeProvision], held: &BTreeMap<String, Vec<String>>) -> Scaling {
    let mut scaling = Scaling::default();
    for node in nodes {
        let mut ids = held.get(&node.name).cloned().unwrap_or_default();
        ids.sort_by_key(|id| (id.parse::<u64>().unwrap_or(u64::MAX), id.clone()));
        let have = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        if node.count > have {
            scaling.add += node.count - have;
        }
        scaling.remove.extend(ids.iter().skip(node.count as usize).rev().cloned());
    }
    scaling
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::node;

    fn held(nodes: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        nodes.iter().map(|(n, ids)| (n.to_string(), ids.iter().map(|i| i.to_string()).collect())).collect()
    }

    #[test]
    fn removes_the_highest_ids_of_each_node_and_counts_what_to_add() {
        let vms = held(&[("wn", &["1", "10", "2", "3"]), ("fe", &["0"])]);
        let s = plan(&[node("fe", 3), node("wn", 2)], &vms);
        assert_eq!(s, Scaling { remove: vec!["10".into(), "3".into()], add: 2 });
        // A node IM does not hold yet is added whole; one not requested is kept.
        let s = plan(&[node("db", 2)], &vms);
        assert_eq!(s, Scaling { remove: Vec::new(), add: 2 });
    }

    #[test]
    fn nothing_to_do_when_the_counts_match() {
        let vms = held(&[("vm", &["0", "1"])]);
        assert_eq!(plan(&[node("vm", 2)], &vms), Scaling::default());
    }
}
