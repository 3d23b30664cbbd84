//! Accounting ingest: a message of usage records, as cASO and SSM send
//! them (APEL cloud records, accelerator and public IP records in JSON,
//! StAR storage records in XML), read by `nuvola_accounting` and stored in
//! one transaction, the cloud summaries kept right in the same one (see
//! `nuvola_store::AccountingLoad`).
//!
//! Who may send: a platform administrator anything (the app says who signed
//! in); a site's publisher, known by the bearer token configured for it
//! (`[[accounting.publishers]]`, only the token's SHA-256 is kept, compared
//! in constant time), only records of its own sites. A message that does not read is refused whole
//! with the line (or path) and field at fault, and so is one with a record
//! of another site: nothing of either is stored.

use nuvola_accounting::accelerator::AcceleratorRecord;
use nuvola_accounting::message::{self, Message};
use nuvola_accounting::public_ip::PublicIpRecord;
use nuvola_accounting::storage::StorageRecord;
use nuvola_accounting::{ParseError, cloud::CloudRecord};
use nuvola_store::LoadReport;
use nuvola_types::{Error, Principal, Result};
use sha2::{Digest, Sha256};

use crate::Accounting;

/// A site's publisher of accounting records, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountingPublisher {
    /// Its name, stored as the records' source.
    pub name: String,
    /// The SHA-256 of its bearer token.
    pub token_sha256: [u8; 32],
    /// The sites (APEL `SiteName`s) it may publish records of.
    pub sites: Vec<String>,
}

/// Who sends an accounting message.
#[derive(Debug, Clone)]
pub enum AccountingSender {
    /// A platform administrator: any site.
    Admin(Principal),
    /// A configured publisher: its sites only.
    Publisher(AccountingPublisher),
    /// The broker's accounting queue, trusted by its credentials: any site.
    Queue,
}

impl AccountingSender {
    /// A caller who signed in, who may send any site's records if a
    /// platform administrator.
    pub fn admin(caller: Principal) -> Result<Self> {
        if !caller.admin {
            return Err(Error::Forbidden(
                "only a platform administrator or a configured accounting publisher may send accounting records".into(),
            ));
        }
        Ok(AccountingSender::Admin(caller))
    }

    /// The name the records are stored under.
    fn source(&self) -> String {
        match self {
            AccountingSender::Admin(p) => format!("{}@{}", p.subject, p.issuer),
            AccountingSender::Publisher(p) => p.name.clone(),
            AccountingSender::Queue => "queue".to_owned(),
        }
    }

    /// Refuses a record of a site the sender may not publish.
    fn check_site(&self, site: Option<&str>, at: impl FnOnce() -> String) -> Result<()> {
        let AccountingSender::Publisher(publisher) = self else { return Ok(()) };
        if site.is_some_and(|site| publisher.sites.iter().any(|s| s == site)) {
            return Ok(());
        }
        let site = site.map_or_else(|| "no site".to_owned(), |s| format!("site {s:?}"));
        Err(Error::Forbidden(format!(
            "{}: the record is of {site}, and publisher {} may only send records of {}; nothing was stored",
            at(),
            publisher.name,
            publisher.sites.join(", ")
        )))
    }
}

/// The refusal of a message that does not read.
fn refused(error: ParseError) -> Error {
    Error::Invalid(format!("the accounting message was refused, nothing was stored: {error}"))
}

impl Accounting {
    /// The configured publisher whose token `bearer` is, if any (else the
    /// sender is whoever signed in with it: see [`AccountingSender::admin`]).
    pub fn publisher(&self, bearer: Option<&str>) -> Option<AccountingPublisher> {
        let hash: [u8; 32] = Sha256::digest(bearer?.as_bytes()).into();
        // Every publisher is compared, so the time does not tell which.
        let mut found = None;
        for publisher in &self.settings().publishers {
            if nuvola_types::secret::same(&hash, &publisher.token_sha256) {
                found = Some(publisher);
            }
        }
        found.cloned()
    }

    /// Stores an accounting message in one transaction and keeps the
    /// cloud summaries right, answering what was stored. The message is
    /// read and checked whole before the transaction begins, so a refused
    /// one never holds the store's writer.
    pub async fn ingest(&self, sender: &AccountingSender, bytes: &[u8]) -> Result<LoadReport> {
        let checked = self.check(sender, bytes)?;
        self.store_checked(sender, vec![checked]).await
    }

    /// Reads a message and checks that `sender` may send each of its
    /// records: refused (`Invalid`, `Forbidden`) naming where and what.
    pub fn check<'m>(&self, sender: &AccountingSender, bytes: &'m [u8]) -> Result<Checked<'m>> {
        let read = match message::read(bytes).map_err(refused)? {
            Message::CloudRecords(mut records) => {
                let mut read: Vec<CloudRecord<'_>> = Vec::new();
                while let Some(record) = records.next() {
                    let record = record.map_err(refused)?;
                    let line = records.site_name_line();
                    sender.check_site(Some(&record.site_name), || format!("line {line}, field SiteName"))?;
                    read.push(record);
                }
                Read::Cloud(read)
            }
            Message::AcceleratorRecords(records) => {
                for (i, r) in records.iter().enumerate() {
                    sender.check_site(Some(&r.site_name), || record_at(bytes, i))?;
                }
                Read::Accelerators(records)
            }
            Message::PublicIps(records) => {
                for (i, r) in records.iter().enumerate() {
                    sender.check_site(Some(&r.site_name), || record_at(bytes, i))?;
                }
                Read::PublicIps(records)
            }
            Message::Storage(records) => {
                let records = records.collect::<Result<Vec<_>, _>>().map_err(refused)?;
                for (i, r) in records.iter().enumerate() {
                    sender.check_site(r.site.as_deref(), || format!("StorageUsageRecord[{}], field Site", i + 1))?;
                }
                Read::Storage(records)
            }
            Message::CloudSummaries(_) | Message::AcceleratorSummaries(_) => {
                return Err(Error::Invalid(
                    "the accounting message holds summaries: send usage records, nuvola computes the summaries \
                     from them; nothing was stored"
                        .into(),
                ));
            }
        };
        Ok(Checked(read))
    }

    /// Stores checked messages of one sender, in their order, in one
    /// transaction (one recompute of the summaries for them all): all of
    /// them or, should the store fail, none.
    pub async fn store_checked(&self, sender: &AccountingSender, messages: Vec<Checked<'_>>) -> Result<LoadReport> {
        let mut load = self.store().begin_accounting_load(&sender.source(), self.now_ms()).await?;
        for Checked(read) in messages {
            match read {
                Read::Cloud(records) => {
                    load.cloud(records).await?;
                }
                Read::Accelerators(records) => {
                    load.accelerators(&records).await?;
                }
                Read::PublicIps(records) => {
                    load.public_ips(&records).await?;
                }
                Read::Storage(records) => {
                    load.storage(&records).await?;
                }
            }
        }
        Ok(load.commit().await?)
    }
}

/// A message read and checked for its sender ([`Accounting::check`]), to
/// store with [`Accounting::store_checked`].
#[derive(Debug)]
pub struct Checked<'m>(Read<'m>);

/// A message's records, read and checked, before they are stored.
#[derive(Debug)]
enum Read<'a> {
    Cloud(Vec<CloudRecord<'a>>),
    Accelerators(Vec<AcceleratorRecord>),
    PublicIps(Vec<PublicIpRecord>),
    Storage(Vec<StorageRecord>),
}

/// Where a record of a message is: the text form's record number, or the
/// JSON form's path to its `SiteName`.
fn record_at(bytes: &[u8], index: usize) -> String {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        format!("at UsageRecords[{index}].SiteName")
    } else {
        format!("record {}, field SiteName", index + 1)
    }
}
