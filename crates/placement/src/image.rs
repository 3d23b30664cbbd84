//! Image choice for one node: the exact image named by the template, or the
//! best image matching its OS type, distribution and version.

use std::cmp::Ordering;

use nuvola_types::{Image, ImageRequirement};

use crate::offered;

/// The image for a node asking for `wanted`; `gpu_node` prefers CUDA
/// images among several matches. On failure, why none matches.
pub(crate) fn choose<'i>(wanted: &ImageRequirement, gpu_node: bool, images: &'i [Image]) -> Result<&'i Image, String> {
    if images.is_empty() {
        return Err("no images on offer".to_owned());
    }
    if let Some(name) = wanted.name.as_deref() {
        return images
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| format!("no image named {name} ({})", offered(images.iter().map(|i| i.name.clone()))));
    }
    images.iter().filter(|image| matches(wanted, image)).min_by(|a, b| preference(wanted, gpu_node, a, b)).ok_or_else(
        || {
            format!(
                "no image for {} ({})",
                describe_wanted(wanted),
                offered(images.iter().map(|i| describe_image(wanted, i)))
            )
        },
    )
}

/// Whether `image` has the requested type, distribution and version.
fn matches(wanted: &ImageRequirement, image: &Image) -> bool {
    let same =
        |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.trim().eq_ignore_ascii_case(have.trim()));
    same(&wanted.os_type, &image.os_type)
        && same(&wanted.distribution, &image.distribution)
        && wanted.version.as_deref().is_none_or(|w| version_matches(w, &image.version))
}

/// Whether `have` is version `want` or a more precise version of it: the
/// components of `want` are the leading components of `have` ("22" matches
/// "22.04" and "22.04.3"; "2" does not match "22.04").
pub(crate) fn version_matches(want: &str, have: &str) -> bool {
    let (want, have) = (want.trim(), have.trim());
    if have.eq_ignore_ascii_case(want) {
        return true;
    }
    // A leading whole component: "22" matches "22.04", not "2".
    !want.is_empty()
        && have.len() > want.len()
        && have.as_bytes()[want.len()] == b'.'
        && have.get(..want.len()).is_some_and(|head| head.eq_ignore_ascii_case(want))
}

/// Orders matching images best first: GPU fitness, exact version, highest
/// version, name.
fn preference(wanted: &ImageRequirement, gpu_node: bool, a: &Image, b: &Image) -> Ordering {
    let key = |image: &Image| {
        let exact = wanted.version.as_deref().is_none_or(|w| w.trim().eq_ignore_ascii_case(image.version.trim()));
        (is_gpu_image(image) != gpu_node, !exact)
    };
    key(a).cmp(&key(b)).then_with(|| compare_versions(&b.version, &a.version)).then_with(|| a.name.cmp(&b.name))
}

/// Whether an image is meant for GPU nodes: it declares a CUDA version or
/// says `gpu` or `cuda` in its name.
fn is_gpu_image(image: &Image) -> bool {
    let contains = |word: &[u8]| image.name.as_bytes().windows(word.len()).any(|w| w.eq_ignore_ascii_case(word));
    image.cuda.is_some() || contains(b"cuda") || contains(b"gpu")
}

/// Orders versions component by component, numbers numerically, without
/// allocating (placement compares many of them).
fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut left = a.split(['.', '-', '_', ' ']).filter(|p| !p.is_empty());
    let mut right = b.split(['.', '-', '_', ' ']).filter(|p| !p.is_empty());
    loop {
        let order = match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(m), Ok(n)) => m.cmp(&n),
                (Ok(_), Err(_)) => Ordering::Less,
                (Err(_), Ok(_)) => Ordering::Greater,
                (Err(_), Err(_)) => {
                    x.bytes().map(|c| c.to_ascii_lowercase()).cmp(y.bytes().map(|c| c.to_ascii_lowercase()))
                }
            },
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

/// The request in words, e.g. "ubuntu 22.04"; "any image" when empty.
fn describe_wanted(wanted: &ImageRequirement) -> String {
    let parts: Vec<&str> =
        [&wanted.os_type, &wanted.distribution, &wanted.version].into_iter().filter_map(|p| p.as_deref()).collect();
    if parts.is_empty() { "any OS".to_owned() } else { parts.join(" ") }
}

/// An image in the same words as the request, e.g. "ubuntu 20.04" (with its
/// OS type first when the request names one).
fn describe_image(wanted: &ImageRequirement, image: &Image) -> String {
    if wanted.os_type.is_some() {
        format!("{} {} {}", image.os_type, image.distribution, image.version)
    } else {
        format!("{} {}", image.distribution, image.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_match_by_whole_leading_components() {
        for (want, have, ok) in [
            ("22.04", "22.04", true),
            ("22", "22.04", true),
            ("22.04", "22.04.3", true),
            ("2", "22.04", false),
            ("22.04", "22", false),
            ("22.0", "22.04", false),
            ("7", "7", true),
            (" 7 ", "7", true),
            ("", "7", false),
        ] {
            assert_eq!(version_matches(want, have), ok, "{want:?} vs {have:?}");
        }
    }

    #[test]
    fn versions_order_numerically() {
        assert_eq!(compare_versions("22.10", "22.04"), Ordering::Greater);
        assert_eq!(compare_versions("10", "9"), Ordering::Greater);
        assert_eq!(compare_versions("9.1", "9"), Ordering::Greater);
        assert_eq!(compare_versions("9", "9"), Ordering::Equal);
    }
}
